//! The linked model of one indicator, or of a whole report: every distinct quantity its tables
//! publish, every additivity relation between them, and every order relation (`sub ≤ sup`)
//! that the form's `subset_of` declarations add between indicators.
//!
//! A cell is identified by the categories it fixes (its non-margin coordinates, keyed by
//! dimension name). Two tables of one indicator with dimension sets `D1` and `D2` therefore
//! share exactly the cells that fix only dimensions of `D1 ∩ D2`: the grand total always, and
//! the margins over their common dimensions. Each such quantity is one variable, wherever it
//! appears. Indicators never share variables: a report's model is the indicators' models side
//! by side, tables numbered on from one indicator to the next, joined only by order relations
//! between cells that fix the same categories.

use std::collections::{BTreeMap, HashMap};

use crate::table::Shape;

/// A fault found while building or solving the model, located at a table cell where it can be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fault {
    /// Shapes, dimension names and cell counts do not fit together.
    Structure(String),
    /// A quantity shared by linked tables is published differently in two of them (different
    /// values, or suppressed in one and published in the other).
    SharedMismatch { table: usize, cell: usize },
    /// A margin differs from the sum of its cells, all of them published.
    Sum { table: usize, cell: usize },
    /// No non-negative values of the suppressed cells fit the published ones.
    Infeasible { table: usize, cell: usize },
    /// A cell above the matching cell of the indicator it is declared a subset of, both known.
    AboveSuperset { table: usize, cell: usize },
    /// A published count above [`super::MAX_CELL_COUNT`].
    TooLarge { table: usize, cell: usize },
    /// The LP solver failed for a reason other than infeasibility.
    Solver(String),
    /// Every candidate is hidden and a small cell is still not protected (only possible when
    /// some cells are fixed, as those of earlier revisions are).
    Unprotectable,
}

/// One additivity relation: `parent = Σ children`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Relation {
    pub parent: usize,
    pub children: Vec<usize>,
}

impl Relation {
    /// Every variable in the relation, parent first.
    pub fn vars(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(self.parent).chain(self.children.iter().copied())
    }
}

/// The linked structure of one indicator's tables.
#[derive(Debug, Clone)]
pub(super) struct Model {
    /// Per table, per cell: its variable.
    pub cell_var: Vec<Vec<usize>>,
    /// Per variable: every (table, cell) where it appears, in table order.
    pub occurrences: Vec<Vec<(usize, usize)>>,
    /// Per variable: how many categories it fixes (0 for the grand total).
    pub fixed_dims: Vec<usize>,
    /// Every distinct relation of every table.
    pub relations: Vec<Relation>,
    /// Per variable: the relations it appears in.
    pub var_relations: Vec<Vec<usize>>,
    /// Per table: its shape.
    pub shapes: Vec<Shape>,
    /// Per variable: the categories it fixes, as (dimension name, category) sorted by name.
    pub keys: Vec<Vec<(String, usize)>>,
    /// Every order relation `(sub, sup, slack)`: variable `sub` is at most variable `sup` plus
    /// `slack` (0 for `subset_of`; the number of changed records between two revisions).
    pub orders: Vec<(usize, usize, i128)>,
    /// Per variable: the order relations it appears in (either side).
    pub var_orders: Vec<Vec<usize>>,
    /// Per variable: the position of its indicator (0 in a one-indicator model).
    pub indicator_of: Vec<usize>,
}

impl Model {
    /// Builds the model from each table's dimension names and shape.
    pub fn build(layouts: &[(&[String], &Shape)]) -> Result<Self, Fault> {
        if layouts.is_empty() {
            return Err(Fault::Structure(
                "an indicator needs at least one table".into(),
            ));
        }
        // Dimension name -> (id, category count); ids in order of first appearance.
        let mut dims: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (t, (names, shape)) in layouts.iter().enumerate() {
            if names.len() != shape.rank() {
                return Err(Fault::Structure(format!(
                    "table {t} names {} dimensions but its shape has {}",
                    names.len(),
                    shape.rank()
                )));
            }
            for (name, &n) in names.iter().zip(shape.categories()) {
                let next = dims.len();
                let entry = dims.entry(name.as_str()).or_insert((next, n));
                if entry.1 != n {
                    return Err(Fault::Structure(format!(
                        "dimension {name:?} has {} categories in one table and {n} in another",
                        entry.1
                    )));
                }
            }
            let mut sorted: Vec<&String> = names.iter().collect();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != names.len() {
                return Err(Fault::Structure(format!("table {t} repeats a dimension")));
            }
        }

        let mut keys: HashMap<Vec<(usize, usize)>, usize> = HashMap::new();
        let mut cell_var = Vec::with_capacity(layouts.len());
        let mut occurrences: Vec<Vec<(usize, usize)>> = Vec::new();
        let mut fixed_dims = Vec::new();
        for (t, (names, shape)) in layouts.iter().enumerate() {
            let ids: Vec<usize> = names
                .iter()
                .map(|name| dims.get(name.as_str()).map_or(0, |d| d.0))
                .collect();
            let mut vars = Vec::with_capacity(shape.full_len());
            for index in 0..shape.full_len() {
                let coords = shape.coords(index);
                let mut key: Vec<(usize, usize)> = coords
                    .iter()
                    .enumerate()
                    .filter(|&(d, &c)| !shape.is_margin(d, c))
                    .map(|(d, &c)| (ids[d], c))
                    .collect();
                key.sort_unstable();
                let fixed = key.len();
                let next = keys.len();
                let var = *keys.entry(key).or_insert(next);
                if var == next {
                    occurrences.push(Vec::new());
                    fixed_dims.push(fixed);
                }
                occurrences[var].push((t, index));
                vars.push(var);
            }
            cell_var.push(vars);
        }

        let mut relation_ids: HashMap<Vec<usize>, usize> = HashMap::new();
        let mut relations = Vec::new();
        for (t, (_, shape)) in layouts.iter().enumerate() {
            let vars = &cell_var[t];
            for index in 0..shape.full_len() {
                let coords = shape.coords(index);
                for d in 0..coords.len() {
                    if !shape.is_margin(d, coords[d]) {
                        continue;
                    }
                    let mut child_coords = coords.clone();
                    let mut children: Vec<usize> = (0..shape.categories()[d])
                        .map(|j| {
                            child_coords[d] = j;
                            vars[shape.index(&child_coords)]
                        })
                        .collect();
                    children.sort_unstable();
                    let parent = vars[index];
                    let mut key = Vec::with_capacity(children.len() + 1);
                    key.push(parent);
                    key.extend_from_slice(&children);
                    let next = relations.len();
                    let id = *relation_ids.entry(key).or_insert(next);
                    if id == next {
                        relations.push(Relation { parent, children });
                    }
                }
            }
        }
        let names_by_id: BTreeMap<usize, &str> =
            dims.iter().map(|(name, &(id, _))| (id, *name)).collect();
        let mut keys_by_var = vec![Vec::new(); occurrences.len()];
        for (key, &var) in &keys {
            let mut named: Vec<(String, usize)> = key
                .iter()
                .map(|&(d, c)| (names_by_id.get(&d).copied().unwrap_or("").to_owned(), c))
                .collect();
            named.sort();
            keys_by_var[var] = named;
        }
        let mut var_relations = vec![Vec::new(); occurrences.len()];
        for (r, relation) in relations.iter().enumerate() {
            for v in relation.vars() {
                if var_relations[v].last() != Some(&r) {
                    var_relations[v].push(r);
                }
            }
        }
        Ok(Self {
            cell_var,
            occurrences,
            fixed_dims,
            relations,
            var_relations,
            shapes: layouts.iter().map(|(_, shape)| (*shape).clone()).collect(),
            var_orders: vec![Vec::new(); keys_by_var.len()],
            indicator_of: vec![0; keys_by_var.len()],
            keys: keys_by_var,
            orders: Vec::new(),
        })
    }

    /// The model of several indicators side by side (each a list of table layouts), with an
    /// order relation `sub ≤ sup` for every `(subset, superset)` pair of `relations` (indicator
    /// positions) and every pair of their variables fixing the same categories. Also gives,
    /// per indicator, the number of its first table in the joint model.
    pub fn linked(
        indicators: &[Vec<(&[String], &Shape)>],
        relations: &[(usize, usize)],
    ) -> Result<(Self, Vec<usize>), Fault> {
        let relations: Vec<(usize, usize, i128)> =
            relations.iter().map(|&(sub, sup)| (sub, sup, 0)).collect();
        Self::linked_with_slack(indicators, &relations)
    }

    /// [`Model::linked`] with a slack per relation: `sub ≤ sup + slack` for every pair of
    /// variables fixing the same categories.
    pub fn linked_with_slack(
        indicators: &[Vec<(&[String], &Shape)>],
        relations: &[(usize, usize, i128)],
    ) -> Result<(Self, Vec<usize>), Fault> {
        let mut joint = Self {
            cell_var: Vec::new(),
            occurrences: Vec::new(),
            fixed_dims: Vec::new(),
            relations: Vec::new(),
            var_relations: Vec::new(),
            shapes: Vec::new(),
            keys: Vec::new(),
            orders: Vec::new(),
            var_orders: Vec::new(),
            indicator_of: Vec::new(),
        };
        let mut first_table = Vec::with_capacity(indicators.len());
        let mut first_var = Vec::with_capacity(indicators.len());
        let mut lookup: Vec<HashMap<Vec<(String, usize)>, usize>> = Vec::new();
        for (position, layouts) in indicators.iter().enumerate() {
            let part = Self::build(layouts).map_err(|fault| match fault {
                Fault::Structure(why) => Fault::Structure(format!("indicator {position}: {why}")),
                other => other,
            })?;
            let (tables, vars, relations_before) = (
                joint.cell_var.len(),
                joint.occurrences.len(),
                joint.relations.len(),
            );
            first_table.push(tables);
            first_var.push(vars);
            joint.cell_var.extend(
                part.cell_var
                    .iter()
                    .map(|cells| cells.iter().map(|v| v + vars).collect::<Vec<_>>()),
            );
            joint
                .occurrences
                .extend(part.occurrences.iter().map(|list| {
                    list.iter()
                        .map(|&(t, c)| (t + tables, c))
                        .collect::<Vec<_>>()
                }));
            joint.fixed_dims.extend_from_slice(&part.fixed_dims);
            joint
                .indicator_of
                .extend(std::iter::repeat_n(position, part.var_count()));
            joint
                .relations
                .extend(part.relations.iter().map(|relation| Relation {
                    parent: relation.parent + vars,
                    children: relation.children.iter().map(|c| c + vars).collect(),
                }));
            joint
                .var_relations
                .extend(part.var_relations.iter().map(|list| {
                    list.iter()
                        .map(|r| r + relations_before)
                        .collect::<Vec<_>>()
                }));
            joint.shapes.extend(part.shapes.iter().cloned());
            lookup.push(
                part.keys
                    .iter()
                    .enumerate()
                    .map(|(v, key)| (key.clone(), v + vars))
                    .collect(),
            );
            joint.keys.extend(part.keys);
        }
        joint.var_orders = vec![Vec::new(); joint.occurrences.len()];
        for &(subset, superset, slack) in relations {
            let (Some(&sub_first), Some(sup_lookup)) =
                (first_var.get(subset), lookup.get(superset))
            else {
                return Err(Fault::Structure(format!(
                    "relation between indicators {subset} and {superset}, of {}",
                    indicators.len()
                )));
            };
            let sub_end = first_var
                .get(subset + 1)
                .copied()
                .unwrap_or(joint.occurrences.len());
            for sub in sub_first..sub_end {
                if let Some(&sup) = sup_lookup.get(&joint.keys[sub]) {
                    let id = joint.orders.len();
                    joint.orders.push((sub, sup, slack));
                    joint.var_orders[sub].push(id);
                    joint.var_orders[sup].push(id);
                }
            }
        }
        Ok((joint, first_table))
    }

    /// Number of distinct quantities.
    pub fn var_count(&self) -> usize {
        self.occurrences.len()
    }

    /// Whether cell `cell` of table `table` is an interior cell (no margin coordinate).
    pub fn is_interior(&self, table: usize, cell: usize) -> bool {
        self.fixed_dims[self.cell_var[table][cell]] == self.shapes[table].rank()
    }

    /// The variables of the interior cells of table `table` that cell `cell` adds up.
    pub fn interior_under(&self, table: usize, cell: usize) -> Vec<usize> {
        let shape = &self.shapes[table];
        let coords = shape.coords(cell);
        let mut found = vec![coords.clone()];
        for (d, &c) in coords.iter().enumerate() {
            if shape.is_margin(d, c) {
                found = found
                    .into_iter()
                    .flat_map(|base| {
                        (0..shape.categories()[d]).map(move |j| {
                            let mut next = base.clone();
                            next[d] = j;
                            next
                        })
                    })
                    .collect();
            }
        }
        found
            .iter()
            .map(|coords| self.cell_var[table][shape.index(coords)])
            .collect()
    }

    /// Whether a variable is its indicator's grand total.
    pub fn is_grand_total(&self, var: usize) -> bool {
        self.fixed_dims[var] == 0
    }

    /// Where a variable first appears.
    pub fn first_cell(&self, var: usize) -> (usize, usize) {
        self.occurrences[var].first().copied().unwrap_or((0, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn linked_tables_share_exactly_their_common_margins() {
        let (a, b, c) = (
            names(&["sex", "age"]),
            names(&["sex"]),
            names(&["substance"]),
        );
        let (sa, sb, sc) = (
            Shape::new(vec![2, 3]),
            Shape::new(vec![2]),
            Shape::new(vec![4]),
        );
        let model = Model::build(&[(&a, &sa), (&b, &sb), (&c, &sc)]).unwrap();
        // 12 + 3 + 5 cells: every cell of [sex] is the sex margin or the total of [sex, age],
        // and [substance] shares only its total.
        assert_eq!(model.var_count(), 12 + 4);
        assert_eq!(
            model.cell_var[0][sa.index(&[0, 3])],
            model.cell_var[1][sb.index(&[0])]
        );
        assert_eq!(
            model.cell_var[0][sa.total_index()],
            model.cell_var[2][sc.total_index()]
        );
        assert_ne!(
            model.cell_var[0][sa.index(&[2, 0])],
            model.cell_var[2][sc.index(&[0])]
        );
        // The same table with its dimensions listed the other way round is the same quantity.
        let reversed = names(&["age", "sex"]);
        let sr = Shape::new(vec![3, 2]);
        let model = Model::build(&[(&a, &sa), (&reversed, &sr)]).unwrap();
        assert_eq!(model.var_count(), 12);
        assert_eq!(
            model.cell_var[0][sa.index(&[1, 2])],
            model.cell_var[1][sr.index(&[2, 1])]
        );
    }

    #[test]
    fn refuses_dimensions_with_two_sizes_or_repeated() {
        let (a, b) = (names(&["sex"]), names(&["sex", "sex"]));
        let (s2, s3) = (Shape::new(vec![2]), Shape::new(vec![3]));
        assert!(Model::build(&[(&a, &s2), (&a, &s3)]).is_err());
        assert!(Model::build(&[(&b, &Shape::new(vec![2, 2]))]).is_err());
        assert!(Model::build(&[(&a, &Shape::new(vec![2, 2]))]).is_err());
        assert!(Model::build(&[]).is_err());
    }
}
