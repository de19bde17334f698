//! The geometry of a published table: a cube over its dimensions' categories, each dimension
//! extended by one "all" position that holds the margin.
//!
//! A table over dimensions with `n1, n2, ...` categories has `(n1+1)(n2+1)...` cells in
//! row-major order (last dimension fastest). Position `ni` on dimension `i` is the margin over
//! that dimension; the cell with every coordinate at its margin is the table's total.

use serde::{Deserialize, Serialize};

/// Category counts per dimension, margins excluded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shape(Vec<usize>);

impl Shape {
    /// A shape with these category counts.
    pub fn new(categories: Vec<usize>) -> Self {
        Self(categories)
    }

    /// Category counts per dimension.
    pub fn categories(&self) -> &[usize] {
        &self.0
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of cells, margins included.
    pub fn full_len(&self) -> usize {
        self.0.iter().map(|n| n + 1).product()
    }

    /// Number of interior cells (no margin coordinate).
    pub fn interior_len(&self) -> usize {
        self.0.iter().product()
    }

    /// The flat index of a cell from its coordinates (each `0..=n`, `n` meaning "all").
    pub fn index(&self, coords: &[usize]) -> usize {
        coords
            .iter()
            .zip(&self.0)
            .fold(0, |acc, (c, n)| acc * (n + 1) + c)
    }

    /// The coordinates of a flat index.
    pub fn coords(&self, mut index: usize) -> Vec<usize> {
        let mut coords = vec![0; self.0.len()];
        for (slot, n) in coords.iter_mut().zip(&self.0).rev() {
            *slot = index % (n + 1);
            index /= n + 1;
        }
        coords
    }

    /// Whether coordinate `c` on dimension `dim` is the margin position.
    pub fn is_margin(&self, dim: usize, c: usize) -> bool {
        c == self.0[dim]
    }

    /// The flat index of the table's grand total.
    pub fn total_index(&self) -> usize {
        self.full_len() - 1
    }
}

/// A table of true counts, margins included, before disclosure control. Never leaves a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountTable {
    /// Dimension names, as in the form.
    pub dimensions: Vec<String>,
    /// Category counts.
    pub shape: Shape,
    /// Every cell, margins included, in [`Shape`] order.
    pub cells: Vec<u64>,
}

impl CountTable {
    /// Builds a table from its interior counts (row-major over categories), computing every
    /// margin by summation so that margins are exact by construction.
    pub fn from_interior(dimensions: Vec<String>, shape: Shape, interior: &[u64]) -> Self {
        assert_eq!(
            interior.len(),
            shape.interior_len(),
            "interior count mismatch"
        );
        let mut cells = vec![0u64; shape.full_len()];
        let interior_shape: Vec<usize> = shape.categories().to_vec();
        for (flat, &count) in interior.iter().enumerate() {
            // Coordinates of this interior cell.
            let mut coords = vec![0; interior_shape.len()];
            let mut rest = flat;
            for (slot, n) in coords.iter_mut().zip(&interior_shape).rev() {
                *slot = rest % n;
                rest /= n;
            }
            // Add the count to every cell that aggregates it: each subset of coordinates
            // replaced by the margin position.
            let rank = coords.len();
            for mask in 0..(1usize << rank) {
                let target: Vec<usize> = coords
                    .iter()
                    .enumerate()
                    .map(|(d, &c)| {
                        if mask & (1 << d) != 0 {
                            interior_shape[d]
                        } else {
                            c
                        }
                    })
                    .collect();
                cells[shape.index(&target)] += count;
            }
        }
        Self {
            dimensions,
            shape,
            cells,
        }
    }

    /// The table's grand total.
    pub fn total(&self) -> u64 {
        self.cells[self.shape.total_index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margins_are_sums() {
        // 2 x 3 interior.
        let t = CountTable::from_interior(
            vec!["a".into(), "b".into()],
            Shape::new(vec![2, 3]),
            &[1, 2, 3, 4, 5, 6],
        );
        assert_eq!(t.cells.len(), 12);
        assert_eq!(t.cells[t.shape.index(&[0, 3])], 6);
        assert_eq!(t.cells[t.shape.index(&[1, 3])], 15);
        assert_eq!(t.cells[t.shape.index(&[2, 0])], 5);
        assert_eq!(t.total(), 21);
        for i in 0..t.cells.len() {
            assert_eq!(t.shape.index(&t.shape.coords(i)), i);
        }
    }
}
