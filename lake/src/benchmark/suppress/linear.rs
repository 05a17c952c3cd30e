//! Which suppressed cells the published relations determine (Gaussian elimination).

use super::Relation;

/// The unknowns (cells for which `unknown` holds) that some linear combination of the
/// relations determines: reduce the relations, restricted to the unknowns, to reduced row
/// echelon form; an unknown is determined exactly when a reduced row holds it alone.
pub(super) fn determined(
    relations: &[Relation],
    unknown: impl Fn(&(usize, usize)) -> bool,
) -> Vec<(usize, usize)> {
    let mut unknowns: Vec<(usize, usize)> = relations
        .iter()
        .flat_map(|r| r.iter().map(|(k, _)| *k))
        .filter(|k| unknown(k))
        .collect();
    unknowns.sort_unstable();
    unknowns.dedup();
    let mut matrix: Vec<Vec<f64>> = relations
        .iter()
        .filter_map(|relation| {
            let mut row = vec![0.0; unknowns.len()];
            let mut any = false;
            for (key, coefficient) in relation {
                if let Ok(i) = unknowns.binary_search(key) {
                    row[i] += coefficient;
                    any = true;
                }
            }
            any.then_some(row)
        })
        .collect();
    let mut pivot_row = 0;
    for col in 0..unknowns.len() {
        // Partial pivoting: the largest entry, for stability.
        let Some(p) = (pivot_row..matrix.len())
            .filter(|&r| matrix[r][col].abs() > 1e-9)
            .max_by(|&a, &b| matrix[a][col].abs().total_cmp(&matrix[b][col].abs()))
        else {
            continue;
        };
        matrix.swap(pivot_row, p);
        let pivot = matrix[pivot_row][col];
        for x in matrix[pivot_row].iter_mut() {
            *x /= pivot;
        }
        let pivot_values = matrix[pivot_row].clone();
        for (r, row) in matrix.iter_mut().enumerate() {
            let factor = row[col];
            if r != pivot_row && factor.abs() > 1e-9 {
                for (x, p) in row.iter_mut().zip(&pivot_values) {
                    *x -= factor * p;
                }
                row[col] = 0.0;
            }
        }
        pivot_row += 1;
        if pivot_row == matrix.len() {
            break;
        }
    }
    matrix
        .iter()
        .filter_map(|row| {
            let mut nonzero = row.iter().enumerate().filter(|(_, x)| x.abs() > 1e-9);
            match (nonzero.next(), nonzero.next()) {
                (Some((only, _)), None) => Some(unknowns[only]),
                _ => None,
            }
        })
        .collect()
}
