//! Feasible bounds of unknown quantities: propagation of relations with a single unknown, then
//! linear programming per connected component of what remains.
//!
//! The LP's columns are the unknown interior cells only (every margin is the sum of the
//! interior cells it covers), and its rows are the published margins over unknown cells, the
//! equalities that link a suppressed quantity across tables, and the inequalities of order
//! relations between indicators (`sub ≤ sup`, either side possibly a published constant): far
//! smaller than one column per cell and one row per relation. Order relations join components
//! across indicators.
//!
//! Every LP solution found is a feasible point, so it is kept as a certificate: a variable seen
//! at 0 needs no minimisation, and one seen at its simple upper bound (a published parent less
//! its published siblings) needs no maximisation. Most cells of a component are settled this way
//! after a few LPs.

use std::collections::VecDeque;

use good_lp::{
    Expression, ProblemVariables, ResolutionError, Solution, SolverModel, Variable, constraint,
    microlp, variable,
};

/// Smallest union-find root.
fn find(parent: &mut [usize], mut v: usize) -> usize {
    while parent[v] != v {
        parent[v] = parent[parent[v]];
        v = parent[v];
    }
    v
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (a, b) = (find(parent, a), find(parent, b));
    if a != b {
        parent[a.max(b)] = a.min(b);
    }
}

use super::model::{Fault, Model};

/// Most LPs over sums tried before settling bounds one variable at a time: each settles many
/// bounds at first and fewer later, when a single-variable LP is as good and cheaper.
const SETTLE_ROUNDS: usize = 4;

/// Tolerance for float error in LP optima, before rounding to whole numbers.
pub(super) fn tolerance(value: f64) -> f64 {
    1e-6 + 1e-9 * value.abs()
}

/// Known values after propagation.
#[derive(Debug, Clone)]
pub(super) struct System<'m> {
    pub model: &'m Model,
    /// Per variable: its value if published or computable.
    pub known: Vec<Option<i128>>,
    /// Per variable: unknown at first but computable exactly from the relations.
    pub determined: Vec<bool>,
}

impl<'m> System<'m> {
    /// Propagates every relation with a single unknown until none is left, then checks every
    /// relation with no unknown.
    pub fn propagate(model: &'m Model, known: Vec<Option<i128>>) -> Result<Self, Fault> {
        let mut system = Self {
            model,
            determined: vec![false; known.len()],
            known,
        };
        let mut queue: VecDeque<usize> = (0..model.relations.len()).collect();
        let mut queued = vec![true; model.relations.len()];
        while let Some(r) = queue.pop_front() {
            queued[r] = false;
            let relation = &model.relations[r];
            let mut unknown = None;
            let mut count = 0;
            for v in relation.vars() {
                if system.known[v].is_none() {
                    unknown = Some(v);
                    count += 1;
                }
            }
            let (1, Some(var)) = (count, unknown) else {
                continue;
            };
            let children: i128 = relation
                .children
                .iter()
                .filter_map(|&c| system.known[c])
                .sum();
            let value = if var == relation.parent {
                children
            } else {
                system.known[relation.parent].unwrap_or(0) - children
            };
            if value < 0 {
                let (table, cell) = model.first_cell(var);
                return Err(Fault::Infeasible { table, cell });
            }
            system.known[var] = Some(value);
            system.determined[var] = true;
            for &next in &model.var_relations[var] {
                if !queued[next] {
                    queued[next] = true;
                    queue.push_back(next);
                }
            }
        }
        for relation in &model.relations {
            let mut sum = 0i128;
            let mut complete = true;
            for &c in &relation.children {
                match system.known[c] {
                    Some(v) => sum += v,
                    None => complete = false,
                }
            }
            let Some(parent) = system.known[relation.parent] else {
                continue;
            };
            if complete && sum != parent {
                let (table, cell) = model.first_cell(relation.parent);
                let derived = relation.vars().any(|v| system.determined[v]);
                return Err(if derived {
                    Fault::Infeasible { table, cell }
                } else {
                    Fault::Sum { table, cell }
                });
            }
        }
        for &(sub, sup, slack) in &model.orders {
            if let (Some(low), Some(high)) = (system.known[sub], system.known[sup]) {
                if low > high + slack {
                    let (table, cell) = model.first_cell(sub);
                    return Err(if system.determined[sub] || system.determined[sup] {
                        Fault::Infeasible { table, cell }
                    } else {
                        Fault::AboveSuperset { table, cell }
                    });
                }
            }
        }
        Ok(system)
    }

    /// The connected components of the unknown variables, each with its LP.
    pub fn components(&self) -> Vec<Component> {
        let model = self.model;
        let n = model.var_count();
        // Columns: unknown variables that are an interior cell of some table.
        let mut column_of = vec![usize::MAX; n];
        let mut columns = 0;
        for (v, column) in column_of.iter_mut().enumerate() {
            let interior = model.occurrences[v]
                .iter()
                .any(|&(t, c)| model.is_interior(t, c));
            if self.known[v].is_none() && interior {
                *column = columns;
                columns += 1;
            }
        }
        // A margin cell as (columns, constant).
        let expression = |t: usize, c: usize| {
            let mut cols = Vec::new();
            let mut constant = 0i128;
            for u in model.interior_under(t, c) {
                match self.known[u] {
                    Some(value) => constant += value,
                    None => cols.push(column_of[u]),
                }
            }
            (cols, constant)
        };
        // Each unknown variable as an expression over columns, and the rows.
        let mut exprs: Vec<Option<(Vec<usize>, i128)>> = vec![None; n];
        let mut rows: Vec<(Vec<(usize, f64)>, i128)> = Vec::new();
        for v in 0..n {
            let margins = model.occurrences[v]
                .iter()
                .filter(|&&(t, c)| !model.is_interior(t, c));
            match self.known[v] {
                Some(value) => {
                    for &(t, c) in margins {
                        let (cols, constant) = expression(t, c);
                        if !cols.is_empty() {
                            rows.push((cols.iter().map(|&k| (k, 1.0)).collect(), value - constant));
                        }
                    }
                }
                None => {
                    let mut own: Option<(Vec<usize>, i128)> =
                        (column_of[v] != usize::MAX).then(|| (vec![column_of[v]], 0));
                    for &(t, c) in margins {
                        let (cols, constant) = expression(t, c);
                        match &own {
                            None => own = Some((cols, constant)),
                            Some((own_cols, own_constant)) => {
                                // own = this occurrence: Σ own − Σ cols = constant − own_constant.
                                let mut terms: Vec<(usize, f64)> =
                                    own_cols.iter().map(|&k| (k, 1.0)).collect();
                                terms.extend(cols.iter().map(|&k| (k, -1.0)));
                                rows.push((terms, constant - own_constant));
                            }
                        }
                    }
                    exprs[v] = own;
                }
            }
        }
        // Order relations as `Σ sub − Σ sup ≤ constant`, over the rows' columns.
        let mut at_most: Vec<(Vec<(usize, f64)>, i128)> = Vec::new();
        let side = |v: usize| match self.known[v] {
            Some(value) => Some((Vec::new(), value)),
            None => exprs[v].clone(),
        };
        for &(sub, sup, slack) in &model.orders {
            let (Some((sub_cols, sub_constant)), Some((sup_cols, sup_constant))) =
                (side(sub), side(sup))
            else {
                continue;
            };
            let mut terms: Vec<(usize, f64)> = sub_cols.iter().map(|&k| (k, 1.0)).collect();
            terms.extend(sup_cols.iter().map(|&k| (k, -1.0)));
            if !terms.is_empty() {
                at_most.push((terms, sup_constant - sub_constant + slack));
            }
        }
        // Components: columns sharing a row or an expression.
        let mut parent: Vec<usize> = (0..columns).collect();
        for (terms, _) in rows.iter().chain(&at_most) {
            for pair in terms.windows(2) {
                union(&mut parent, pair[0].0, pair[1].0);
            }
        }
        for (cols, _) in exprs.iter().flatten() {
            for pair in cols.windows(2) {
                union(&mut parent, pair[0], pair[1]);
            }
        }
        let mut slot_of_root = vec![usize::MAX; columns];
        let mut local_column = vec![usize::MAX; columns];
        let mut components: Vec<Component> = Vec::new();
        let mut component_of_var = vec![usize::MAX; n];
        for v in 0..n {
            let Some((cols, _)) = &exprs[v] else {
                continue;
            };
            // An unknown variable over no unknown column is determined: propagation found it.
            let Some(&first) = cols.first() else {
                continue;
            };
            let root = find(&mut parent, first);
            if slot_of_root[root] == usize::MAX {
                slot_of_root[root] = components.len();
                components.push(Component {
                    location: model.first_cell(v),
                    ..Component::default()
                });
            }
            component_of_var[v] = slot_of_root[root];
        }
        for (col, local) in local_column.iter_mut().enumerate() {
            let root = find(&mut parent, col);
            if let Some(component) = components.get_mut(slot_of_root[root]) {
                *local = component.columns;
                component.columns += 1;
            }
        }
        for v in 0..n {
            let (Some(component), Some((cols, constant))) =
                (components.get_mut(component_of_var[v]), &exprs[v])
            else {
                continue;
            };
            component.vars.push(v);
            component
                .exprs
                .push((cols.iter().map(|&k| local_column[k]).collect(), *constant));
        }
        for (terms, rhs) in rows {
            let Some(&(first, _)) = terms.first() else {
                continue;
            };
            let root = find(&mut parent, first);
            if let Some(component) = components.get_mut(slot_of_root[root]) {
                let terms = terms.iter().map(|&(k, c)| (local_column[k], c)).collect();
                component.constraints.push((terms, rhs as f64));
            }
        }
        for (terms, rhs) in at_most {
            let Some(&(first, _)) = terms.first() else {
                continue;
            };
            let root = find(&mut parent, first);
            if let Some(component) = components.get_mut(slot_of_root[root]) {
                let terms = terms.iter().map(|&(k, c)| (local_column[k], c)).collect();
                component.at_most.push((terms, rhs as f64));
            }
        }
        for component in &mut components {
            let len = component.vars.len();
            component.seen_min = vec![f64::INFINITY; len];
            component.seen_max = vec![f64::NEG_INFINITY; len];
            component.simple_upper = vec![None; len];
            component.floors = vec![0; len];
            component.caps = vec![None; len];
            for (local, &v) in component.vars.iter().enumerate() {
                component.simple_upper[local] = self.simple_upper(v);
            }
        }
        components
    }

    /// A known parent less its known children, over the relations where `v` is a child, and a
    /// known superset cell, over the order relations where `v` is the subset: an upper bound,
    /// since the other unknown children are non-negative.
    fn simple_upper(&self, v: usize) -> Option<i128> {
        let model = self.model;
        let by_order = model.var_orders[v]
            .iter()
            .map(|&o| model.orders[o])
            .filter(|&(sub, _, _)| sub == v)
            .filter_map(|(_, sup, slack)| self.known[sup].map(|n| n + slack));
        model.var_relations[v]
            .iter()
            .map(|&r| &model.relations[r])
            .filter(|relation| relation.parent != v)
            .filter_map(|relation| {
                let parent = self.known[relation.parent]?;
                let known: i128 = relation
                    .children
                    .iter()
                    .filter_map(|&c| self.known[c])
                    .sum();
                Some(parent - known)
            })
            .chain(by_order)
            .min()
    }
}

/// What an LP optimises.
#[derive(Clone, Copy)]
enum Objective<'a> {
    /// One variable, maximised or minimised.
    One { local: usize, maximise: bool },
    /// The sum of these variables, minimised.
    SumMin(&'a [usize]),
    /// The sum of these variables each capped at its value, maximised.
    CappedMax(&'a [(usize, f64)]),
}

/// The unknown variables of one connected component and the LP over its columns.
#[derive(Debug, Clone, Default)]
pub(super) struct Component {
    /// Global variable ids, ascending.
    pub vars: Vec<usize>,
    /// Per local variable: its columns and a constant (known interior cells it covers).
    exprs: Vec<(Vec<usize>, i128)>,
    /// Number of columns (unknown interior cells).
    columns: usize,
    /// `Σ coefficient · column = rhs`.
    constraints: Vec<(Vec<(usize, f64)>, f64)>,
    /// `Σ coefficient · column ≤ rhs` (order relations between indicators).
    at_most: Vec<(Vec<(usize, f64)>, f64)>,
    /// Per local variable: a known parent less its known children, if any such relation.
    simple_upper: Vec<Option<i128>>,
    /// Per local variable: least and greatest value seen in a feasible whole-number point.
    seen_min: Vec<f64>,
    seen_max: Vec<f64>,
    /// Per local variable: the least value and the cap the rule gives it (see `knowledge.rs`).
    floors: Vec<u64>,
    caps: Vec<Option<u64>>,
    /// Where the component's first variable appears, to locate faults.
    location: (usize, usize),
    /// Number of LPs solved.
    pub lp_count: usize,
}

impl Component {
    /// Records a feasible point given as the value of every local variable.
    pub fn observe(&mut self, values: &[f64]) {
        for ((value, low), high) in values
            .iter()
            .zip(self.seen_min.iter_mut())
            .zip(self.seen_max.iter_mut())
        {
            *low = low.min(*value);
            *high = high.max(*value);
        }
    }

    /// Adds what the rule says of a local variable: at least `floor`, at most `cap`. Points
    /// seen before stay certificates only if they keep it.
    pub fn restrict(&mut self, local: usize, floor: u64, cap: Option<u64>) {
        let (floor, cap) = (floor.max(self.floors[local]), cap.or(self.caps[local]));
        if floor != self.floors[local] || cap != self.caps[local] {
            self.floors[local] = floor;
            self.caps[local] = cap;
            // Earlier points may break the new bounds: forget them.
            self.seen_min.fill(f64::INFINITY);
            self.seen_max.fill(f64::NEG_INFINITY);
        }
    }

    /// The least value the rule gives a local variable.
    pub fn floor(&self, local: usize) -> u64 {
        self.floors[local]
    }

    /// Records a feasible point given by its columns, if it is a whole-number point (only those
    /// prove that a value can be taken by counts).
    fn observe_columns(&mut self, columns: &[f64]) {
        if !columns
            .iter()
            .all(|&x| (x - x.round()).abs() <= tolerance(x))
        {
            return;
        }
        let columns: Vec<f64> = columns.iter().map(|x| x.round()).collect();
        let columns = columns.as_slice();
        let values: Vec<f64> = self
            .exprs
            .iter()
            .map(|(cols, constant)| {
                *constant as f64 + cols.iter().map(|&k| columns[k]).sum::<f64>()
            })
            .collect();
        self.observe(&values);
    }

    /// Number of local variables.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Settles as many minima at 0 as possible with a few LPs minimising sums.
    pub fn settle_zeros(&mut self, wanted: &[usize]) -> Result<(), Fault> {
        for _ in 0..SETTLE_ROUNDS {
            let pending: Vec<usize> = wanted
                .iter()
                .copied()
                .filter(|&l| self.seen_min[l] > tolerance(0.0))
                .collect();
            if pending.len() < 2 {
                return Ok(());
            }
            self.solve(Objective::SumMin(&pending), false)?;
            let settled = pending
                .iter()
                .filter(|&&l| self.seen_min[l] <= tolerance(0.0))
                .count();
            if settled < 2 {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Settles as many variables as possible at `target(local)` or above with a few LPs
    /// maximising capped sums. `target` gives `None` for variables not to try.
    pub fn settle_reach(
        &mut self,
        wanted: &[usize],
        target: impl Fn(&Self, usize) -> Option<f64>,
    ) -> Result<(), Fault> {
        for _ in 0..SETTLE_ROUNDS {
            let pending: Vec<(usize, f64)> = wanted
                .iter()
                .filter_map(|&l| target(self, l).map(|t| (l, t)))
                .filter(|&(l, t)| self.seen_max[l] < t - tolerance(t))
                .collect();
            if pending.len() < 2 {
                return Ok(());
            }
            self.solve(Objective::CappedMax(&pending), false)?;
            let settled = pending
                .iter()
                .filter(|&&(l, t)| self.seen_max[l] >= t - tolerance(t))
                .count();
            if settled < 2 {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Whether feasible points already show the variable at `k` or above, and (with
    /// `needs_zero`) at 0.
    pub fn settled(&self, local: usize, k: u64, needs_zero: bool) -> bool {
        let k_f = k as f64;
        (!needs_zero || self.seen_min[local] <= tolerance(0.0))
            && self.seen_max[local] >= k_f - tolerance(k_f)
    }

    /// The simple upper bound of a local variable, as a float.
    pub fn simple_upper(&self, local: usize) -> Option<f64> {
        self.simple_upper[local].map(|b| b as f64)
    }

    /// The least feasible whole value of a local variable.
    pub fn lower(&mut self, local: usize) -> Result<u64, Fault> {
        let floor = self.floors[local] as f64;
        if self.seen_min[local] <= floor + tolerance(floor) {
            return Ok(self.floors[local]);
        }
        let value = self.optimum(local, false)?.ok_or_else(|| {
            Fault::Solver("minimisation of a non-negative variable is unbounded".into())
        })?;
        Ok(whole((value - tolerance(value)).ceil()))
    }

    /// The greatest feasible whole value of a local variable, `u64::MAX` if unbounded.
    pub fn upper(&mut self, local: usize) -> Result<u64, Fault> {
        if let Some(cap) = self.caps[local] {
            let cap_f = cap as f64;
            if self.seen_max[local] >= cap_f - tolerance(cap_f) {
                return Ok(cap);
            }
        }
        if let Some(bound) = self.simple_upper[local] {
            let bound_f = bound as f64;
            if self.seen_max[local] >= bound_f - tolerance(bound_f) {
                return Ok(whole(bound_f));
            }
        }
        let Some(value) = self.optimum(local, true)? else {
            return Ok(u64::MAX);
        };
        let mut upper = whole((value + tolerance(value)).floor());
        if let Some(bound) = self.simple_upper[local] {
            upper = upper.min(whole(bound as f64));
        }
        Ok(upper)
    }

    /// The optimum of one variable over whole numbers: the LP's, when its optimal point is a
    /// whole-number point (then no whole-number point does better), otherwise the integer
    /// programme's. `None` if unbounded.
    fn optimum(&mut self, local: usize, maximise: bool) -> Result<Option<f64>, Fault> {
        let objective = Objective::One { local, maximise };
        let (value, whole_point) = self.solve(objective, false)?;
        if whole_point || value.is_none() || !self.fits_integer_solver() {
            return Ok(value);
        }
        Ok(self.solve(objective, true)?.0)
    }

    /// Whether every constant is small enough for the integer solver's 32-bit bounds.
    fn fits_integer_solver(&self) -> bool {
        let limit = f64::from(i32::MAX) / 4.0;
        self.constraints
            .iter()
            .chain(&self.at_most)
            .all(|(_, rhs)| rhs.abs() < limit)
    }

    /// Whether the variable can be 0.
    pub fn can_be_zero(&mut self, local: usize) -> Result<bool, Fault> {
        Ok(self.lower(local)? == 0)
    }

    /// Whether the variable can reach `k`, solving an LP only when no certificate says so.
    pub fn can_reach(&mut self, local: usize, k: u64) -> Result<bool, Fault> {
        let k_f = k as f64;
        if self.seen_max[local] >= k_f - tolerance(k_f) {
            return Ok(true);
        }
        if let Some(bound) = self.simple_upper[local] {
            if bound < i128::from(k) {
                return Ok(false);
            }
        }
        if self.caps[local].is_some_and(|cap| cap < k) {
            return Ok(false);
        }
        Ok(self.upper(local)? >= k)
    }

    /// Solves one LP (with `integer`, over whole numbers), records its point if it is a
    /// whole-number point, and gives the optimum of a single-variable objective (`None` if
    /// unbounded) and whether the point was whole.
    fn solve(
        &mut self,
        objective: Objective<'_>,
        integer: bool,
    ) -> Result<(Option<f64>, bool), Fault> {
        self.lp_count += 1;
        let mut problem = ProblemVariables::new();
        let xs: Vec<Variable> = (0..self.columns)
            .map(|_| {
                let column = variable().min(0.0);
                problem.add(if integer { column.integer() } else { column })
            })
            .collect();
        let of = |local: usize| -> Expression {
            let (cols, constant) = &self.exprs[local];
            cols.iter().map(|&k| xs[k]).sum::<Expression>() + *constant as f64
        };
        let mut caps = Vec::new();
        let unsolved = match objective {
            Objective::One { local, maximise } => {
                if maximise {
                    problem.maximise(of(local))
                } else {
                    problem.minimise(of(local))
                }
            }
            Objective::SumMin(locals) => {
                problem.minimise(locals.iter().map(|&l| of(l)).sum::<Expression>())
            }
            Objective::CappedMax(targets) => {
                let mut total = Expression::from(0.0);
                for &(local, cap) in targets {
                    let y = problem.add(variable().min(0.0).max(cap));
                    caps.push(constraint!(y - of(local) <= 0.0));
                    total += y;
                }
                problem.maximise(total)
            }
        };
        let mut lp = unsolved.using(microlp);
        for (terms, rhs) in &self.constraints {
            let expression: Expression = terms.iter().map(|&(i, c)| c * xs[i]).sum();
            lp = lp.with(constraint!(expression == *rhs));
        }
        for (terms, rhs) in &self.at_most {
            let expression: Expression = terms.iter().map(|&(i, c)| c * xs[i]).sum();
            lp = lp.with(constraint!(expression <= *rhs));
        }
        for cap in caps {
            lp = lp.with(cap);
        }
        for (local, (&floor, &cap)) in self.floors.iter().zip(&self.caps).enumerate() {
            if floor > 0 {
                lp = lp.with(constraint!(of(local) >= floor as f64));
            }
            if let Some(cap) = cap {
                lp = lp.with(constraint!(of(local) <= cap as f64));
            }
        }
        match lp.solve() {
            Ok(solution) => {
                let point: Vec<f64> = xs.iter().map(|&x| solution.value(x)).collect();
                let whole_point = point.iter().all(|&x| (x - x.round()).abs() <= tolerance(x));
                self.observe_columns(&point);
                Ok((
                    match objective {
                        Objective::One { local, .. } => {
                            let (cols, constant) = &self.exprs[local];
                            Some(*constant as f64 + cols.iter().map(|&k| point[k]).sum::<f64>())
                        }
                        _ => None,
                    },
                    whole_point,
                ))
            }
            Err(ResolutionError::Unbounded) => Ok((None, false)),
            Err(ResolutionError::Infeasible) => Err(Fault::Infeasible {
                table: self.location.0,
                cell: self.location.1,
            }),
            Err(other) => Err(Fault::Solver(other.to_string())),
        }
    }
}

/// A rounded, non-negative float as a whole count.
fn whole(value: f64) -> u64 {
    if value <= 0.0 {
        0
    } else if value >= u64::MAX as f64 {
        u64::MAX
    } else {
        value as u64
    }
}
