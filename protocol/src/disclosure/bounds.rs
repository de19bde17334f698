//! Feasible bounds of unknown quantities: propagation of relations with a single unknown, then
//! linear programming per connected component of what remains.
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

use super::model::{Fault, Model};

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
        Ok(system)
    }

    /// The connected components of the unknown variables, each with its LP.
    pub fn components(&self) -> Vec<Component> {
        let n = self.known.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(parent: &mut [usize], mut v: usize) -> usize {
            while parent[v] != v {
                parent[v] = parent[parent[v]];
                v = parent[v];
            }
            v
        }
        let model = self.model;
        for (r, relation) in model.relations.iter().enumerate() {
            if !model.in_basis[r] {
                continue;
            }
            let mut first = None;
            for v in relation.vars().filter(|&v| self.known[v].is_none()) {
                match first {
                    None => first = Some(v),
                    Some(f) => {
                        let (a, b) = (find(&mut parent, f), find(&mut parent, v));
                        if a != b {
                            parent[a.max(b)] = a.min(b);
                        }
                    }
                }
            }
        }
        // Components in order of their least variable.
        let mut slot_of_root = vec![usize::MAX; n];
        let mut components: Vec<Component> = Vec::new();
        let mut slot = vec![usize::MAX; n];
        for (v, local) in slot.iter_mut().enumerate() {
            if self.known[v].is_some() {
                continue;
            }
            let root = find(&mut parent, v);
            if slot_of_root[root] == usize::MAX {
                slot_of_root[root] = components.len();
                components.push(Component::default());
            }
            let c = slot_of_root[root];
            *local = components[c].vars.len();
            components[c].vars.push(v);
        }
        for component in &mut components {
            let len = component.vars.len();
            component.seen_min = vec![f64::INFINITY; len];
            component.seen_max = vec![f64::NEG_INFINITY; len];
            component.simple_upper.resize(len, None);
            component.location = component
                .vars
                .first()
                .map_or((0, 0), |&v| model.first_cell(v));
        }
        for (r, relation) in model.relations.iter().enumerate() {
            let Some(first) = relation.vars().find(|&v| self.known[v].is_none()) else {
                continue;
            };
            let component = &mut components[slot_of_root[find(&mut parent, first)]];
            // Σ children − parent = 0, with known values moved to the right-hand side.
            let mut terms = Vec::new();
            let mut rhs = 0i128;
            for &c in &relation.children {
                match self.known[c] {
                    Some(value) => rhs -= value,
                    None => terms.push((slot[c], 1.0)),
                }
            }
            match self.known[relation.parent] {
                Some(value) => {
                    rhs += value;
                    // A simple upper bound for each unknown child: the parent less the known
                    // siblings, since the other unknown siblings are non-negative.
                    for &(local, _) in &terms {
                        let bound = &mut component.simple_upper[local];
                        *bound = Some(bound.map_or(rhs, |b: i128| b.min(rhs)));
                    }
                }
                None => terms.push((slot[relation.parent], -1.0)),
            }
            if model.in_basis[r] {
                component.constraints.push((terms, rhs as f64));
            }
        }
        components
    }
}

/// The unknown variables of one connected component and the LP over them.
#[derive(Debug, Clone, Default)]
pub(super) struct Component {
    /// Global variable ids, ascending.
    pub vars: Vec<usize>,
    /// `Σ coefficient · x = rhs`, over local indices.
    constraints: Vec<(Vec<(usize, f64)>, f64)>,
    /// Per local variable: a known parent less its known children, if any such relation.
    simple_upper: Vec<Option<i128>>,
    /// Per local variable: least and greatest value seen in a feasible point.
    seen_min: Vec<f64>,
    seen_max: Vec<f64>,
    /// Where the component's least variable first appears, to locate faults.
    location: (usize, usize),
    /// Number of LPs solved.
    pub lp_count: usize,
}

impl Component {
    /// Records a feasible point (in local order) as a certificate.
    pub fn observe(&mut self, point: &[f64]) {
        for ((value, low), high) in point
            .iter()
            .zip(self.seen_min.iter_mut())
            .zip(self.seen_max.iter_mut())
        {
            *low = low.min(*value);
            *high = high.max(*value);
        }
    }

    /// The least feasible whole value of a local variable.
    pub fn lower(&mut self, local: usize) -> Result<u64, Fault> {
        if self.seen_min[local] <= tolerance(0.0) {
            return Ok(0);
        }
        let point = self.solve(local, false)?.ok_or_else(|| {
            Fault::Solver("minimisation of a non-negative variable is unbounded".into())
        })?;
        let value = point[local];
        Ok(whole((value - tolerance(value)).ceil()))
    }

    /// The greatest feasible whole value of a local variable, `u64::MAX` if unbounded.
    pub fn upper(&mut self, local: usize) -> Result<u64, Fault> {
        if let Some(bound) = self.simple_upper[local] {
            let bound_f = bound as f64;
            if self.seen_max[local] >= bound_f - tolerance(bound_f) {
                return Ok(whole(bound_f));
            }
        }
        let Some(point) = self.solve(local, true)? else {
            return Ok(u64::MAX);
        };
        let value = point[local];
        let mut upper = whole((value + tolerance(value)).floor());
        if let Some(bound) = self.simple_upper[local] {
            upper = upper.min(whole(bound as f64));
        }
        Ok(upper)
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
        Ok(self.upper(local)? >= k)
    }

    /// Minimises or maximises one local variable; `None` if unbounded.
    fn solve(&mut self, objective: usize, maximise: bool) -> Result<Option<Vec<f64>>, Fault> {
        self.lp_count += 1;
        let mut problem = ProblemVariables::new();
        let xs: Vec<Variable> = (0..self.vars.len())
            .map(|_| problem.add(variable().min(0.0)))
            .collect();
        let target = xs[objective];
        let unsolved = if maximise {
            problem.maximise(target)
        } else {
            problem.minimise(target)
        };
        let mut lp = unsolved.using(microlp);
        for (terms, rhs) in &self.constraints {
            let expression: Expression = terms.iter().map(|&(i, c)| c * xs[i]).sum();
            lp = lp.with(constraint!(expression == *rhs));
        }
        match lp.solve() {
            Ok(solution) => {
                let point: Vec<f64> = xs.iter().map(|&x| solution.value(x)).collect();
                self.observe(&point);
                Ok(Some(point))
            }
            Err(ResolutionError::Unbounded) => Ok(None),
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
