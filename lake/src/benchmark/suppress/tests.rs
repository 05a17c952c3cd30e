//! Primary and complementary suppression: a crafted table, and a property test whose
//! oracle is independent of the graph argument (Gaussian elimination over the table's
//! published totals).

use proptest::prelude::*;

use super::*;

/// The additive relations of a grid, written here from the table's meaning (not from
/// the module's relation builder): each is a list of (cell, coefficient) summing to 0.
fn relations(grid: &Grid) -> Vec<Vec<((usize, usize), f64)>> {
    let (rows, cols) = (grid.rows, grid.cols);
    let mut out = Vec::new();
    let present = |r: usize, c: usize| grid.cell(r, c).is_some();
    let total_rows = rows + 1 + grid.groups.len();
    if grid.row_totals {
        for r in 0..total_rows {
            let mut relation: Vec<_> = (0..cols)
                .filter(|&c| present(r, c))
                .map(|c| ((r, c), 1.0))
                .collect();
            if present(r, cols) {
                relation.push(((r, cols), -1.0));
            }
            out.push(relation);
        }
    }
    let last = if grid.row_totals { cols } else { cols - 1 };
    let everyone: Vec<usize> = (0..rows).collect();
    let mut sums = vec![(rows, everyone)];
    for (g, members) in grid.groups.iter().enumerate() {
        sums.push((rows + 1 + g, members.clone()));
    }
    for c in 0..=last {
        for (total, members) in &sums {
            let mut relation: Vec<_> = members
                .iter()
                .filter(|&&r| present(r, c))
                .map(|&r| ((r, c), 1.0))
                .collect();
            if present(*total, c) {
                relation.push(((*total, c), -1.0));
            }
            out.push(relation);
        }
    }
    out
}

/// Suppressed cells that some linear combination of the published cells determines:
/// reduce the relations (restricted to the unknowns) to row echelon form; an unknown is
/// determined when a reduced row holds it alone.
fn determined(grid: &Grid) -> Vec<(usize, usize)> {
    let unknowns: Vec<(usize, usize)> = grid
        .cells()
        .filter(|(_, c)| c.suppressed.is_some())
        .map(|(k, _)| *k)
        .collect();
    let index = |k: &(usize, usize)| unknowns.iter().position(|u| u == k);
    let mut matrix: Vec<Vec<f64>> = relations(grid)
        .iter()
        .map(|relation| {
            let mut row = vec![0.0; unknowns.len()];
            for (key, coefficient) in relation {
                if let Some(i) = index(key) {
                    row[i] += coefficient;
                }
            }
            row
        })
        .collect();
    let mut pivot_row = 0;
    for col in 0..unknowns.len() {
        let Some(p) = (pivot_row..matrix.len()).find(|&r| matrix[r][col].abs() > 1e-9) else {
            continue;
        };
        matrix.swap(pivot_row, p);
        let pivot = matrix[pivot_row][col];
        for x in matrix[pivot_row].iter_mut() {
            *x /= pivot;
        }
        for r in 0..matrix.len() {
            if r != pivot_row && matrix[r][col].abs() > 1e-9 {
                let factor = matrix[r][col];
                let pivot_values = matrix[pivot_row].clone();
                for (x, p) in matrix[r].iter_mut().zip(&pivot_values) {
                    *x -= factor * p;
                }
            }
        }
        pivot_row += 1;
    }
    matrix
        .iter()
        .filter_map(|row| {
            let nonzero: Vec<usize> = (0..row.len()).filter(|&i| row[i].abs() > 1e-9).collect();
            match nonzero.as_slice() {
                [only] => Some(unknowns[*only]),
                _ => None,
            }
        })
        .collect()
}

/// Builds a grid from per-cell units (0 = absent) with margins as the sums.
fn grid_of(units: &[Vec<u64>], row_totals: bool) -> Grid {
    grid_with_groups(units, row_totals, &[])
}

/// Like [`grid_of`], with group total rows over the given member rows.
fn grid_with_groups(units: &[Vec<u64>], row_totals: bool, groups: &[Vec<usize>]) -> Grid {
    let rows = units.len();
    let cols = units.first().map_or(0, Vec::len);
    let mut grid = Grid::new(rows, cols, row_totals);
    let mut col_sums = vec![0; cols];
    for (r, line) in units.iter().enumerate() {
        for (c, &u) in line.iter().enumerate() {
            if u > 0 {
                grid.insert(r, c, u);
                col_sums[c] += u;
            }
        }
        let sum: u64 = line.iter().sum();
        if row_totals && sum > 0 {
            grid.insert(r, cols, sum);
        }
    }
    for (c, &u) in col_sums.iter().enumerate() {
        if u > 0 {
            grid.insert(rows, c, u);
        }
    }
    let total: u64 = col_sums.iter().sum();
    if row_totals && total > 0 {
        grid.insert(rows, cols, total);
    }
    for members in groups {
        let row = grid.add_group(members.clone());
        let width = if row_totals { cols + 1 } else { cols };
        for c in 0..width {
            let sum: u64 = members
                .iter()
                .map(|&r| {
                    if c < cols {
                        units[r][c]
                    } else {
                        units[r].iter().sum()
                    }
                })
                .sum();
            if sum > 0 {
                grid.insert(row, c, sum);
            }
        }
    }
    grid
}

#[test]
fn one_small_cell_gets_complements_in_its_row_and_column() {
    // Arrange: 3 municipalities × 3 categories, one cell with 2 units.
    let mut grid = grid_of(&[vec![10, 2, 12], vec![9, 11, 30], vec![40, 8, 7]], true);

    // Act
    grid.suppress(3);

    // Assert: the small cell is primary, and its row and column each hold another
    // suppressed cell.
    assert_eq!(
        grid.cell(0, 1).and_then(|c| c.suppressed),
        Some(Reason::TooFewUnits)
    );
    let suppressed_in_row = (0..=3)
        .filter(|&c| grid.cell(0, c).is_some_and(|x| x.suppressed.is_some()))
        .count();
    let suppressed_in_col = (0..=3)
        .filter(|&r| grid.cell(r, 1).is_some_and(|x| x.suppressed.is_some()))
        .count();
    assert!(suppressed_in_row >= 2 && suppressed_in_col >= 2);
    // The smallest other cells were chosen: 8 (row 2, column 1) and 7 (row 2, column 2)
    // and 12 (row 0, column 2) close the cheapest cycle.
    for key in [(2, 1), (2, 2), (0, 2)] {
        assert_eq!(
            grid.cell(key.0, key.1).and_then(|c| c.suppressed),
            Some(Reason::Complementary),
            "{key:?}"
        );
    }
    assert!(determined(&grid).is_empty());
    // Totals stay published.
    assert_eq!(grid.cell(3, 3).and_then(|c| c.suppressed), None);
}

#[test]
fn without_categories_two_municipalities_hide_each_other() {
    let mut grid = grid_of(&[vec![2], vec![50], vec![40]], false);
    grid.suppress(3);
    assert_eq!(
        grid.cell(0, 0).and_then(|c| c.suppressed),
        Some(Reason::TooFewUnits)
    );
    assert_eq!(
        grid.cell(2, 0).and_then(|c| c.suppressed),
        Some(Reason::Complementary)
    );
    assert_eq!(grid.cell(3, 0).and_then(|c| c.suppressed), None);
    assert!(determined(&grid).is_empty());
}

#[test]
fn the_oracle_sees_an_unprotected_cell() {
    // The oracle itself: one primary suppression alone is recoverable from its row total.
    let mut grid = grid_of(&[vec![10, 2], vec![9, 11]], true);
    if let Some(cell) = grid.cells.get_mut(&(0, 1)) {
        cell.suppressed = Some(Reason::TooFewUnits);
    }
    assert_eq!(determined(&grid), vec![(0, 1)]);
}

fn table() -> impl Strategy<Value = (Vec<Vec<u64>>, bool)> {
    (1usize..7, 1usize..6, any::<bool>()).prop_flat_map(|(rows, cols, totals)| {
        let cols = if totals { cols } else { 1 };
        (
            proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just(0u64), 1u64..4, 3u64..40], cols),
                rows,
            ),
            Just(totals),
        )
    })
}

#[test]
fn a_region_total_gets_its_own_complement() {
    // Arrange: four municipalities in two regions; the small cell's graph complement
    // would sit in the other region, so the region's total would give it away.
    let units = vec![vec![2, 30], vec![40, 50], vec![6, 7], vec![60, 70]];
    let mut grid = grid_with_groups(&units, true, &[vec![0, 1], vec![2, 3]]);

    // Act
    grid.suppress(3);

    // Assert: nothing is derivable, and the first region's column of the small cell
    // holds a second suppressed cell or its total is suppressed.
    assert!(determined(&grid).is_empty(), "{:?}", determined(&grid));
    let region_row = 5;
    let withheld = |r: usize| grid.cell(r, 0).is_some_and(|c| c.suppressed.is_some());
    assert!(withheld(1) || withheld(region_row));
}

#[test]
fn a_dominated_cell_is_withheld_and_protected() {
    let mut grid = grid_of(&[vec![10, 20], vec![30, 40], vec![50, 60]], true);
    grid.insert_cell(1, 1, 40, true);
    grid.suppress(3);
    assert_eq!(
        grid.cell(1, 1).and_then(|c| c.suppressed),
        Some(Reason::Dominance)
    );
    assert!(determined(&grid).is_empty());
}

/// A table with two partitions of its rows into groups (like regions and size bands).
fn grouped() -> impl Strategy<Value = (Vec<Vec<u64>>, bool, Vec<Vec<usize>>)> {
    (2usize..9, 1usize..5, any::<bool>(), 1usize..4, 1usize..4).prop_flat_map(
        |(rows, cols, totals, a, b)| {
            let cols = if totals { cols } else { 1 };
            (
                proptest::collection::vec(
                    proptest::collection::vec(prop_oneof![Just(0u64), 1u64..4, 3u64..40], cols),
                    rows,
                ),
                Just(totals),
                proptest::collection::vec(0..a, rows),
                proptest::collection::vec(0..b, rows),
            )
                .prop_map(move |(units, totals, first, second)| {
                    let mut groups = Vec::new();
                    for (count, labels) in [(a, first), (b, second)] {
                        for g in 0..count {
                            let members: Vec<usize> =
                                (0..rows).filter(|&r| labels[r] == g).collect();
                            if !members.is_empty() {
                                groups.push(members);
                            }
                        }
                    }
                    (units, totals, groups)
                })
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_suppressed_cell_is_derivable_with_group_totals((units, totals, groups) in grouped()) {
        let mut grid = grid_with_groups(&units, totals, &groups);
        grid.suppress(3);
        for (_, cell) in grid.cells() {
            if cell.suppressed.is_none() {
                prop_assert!(cell.units >= 3, "published cell with {} units", cell.units);
            }
        }
        prop_assert!(determined(&grid).is_empty(), "derivable: {:?}", determined(&grid));
    }

    #[test]
    fn no_suppressed_cell_is_derivable_from_published_cells((units, totals) in table()) {
        let mut grid = grid_of(&units, totals);
        grid.suppress(3);
        for (_, cell) in grid.cells() {
            if cell.suppressed.is_none() {
                prop_assert!(cell.units >= 3, "published cell with {} units", cell.units);
            }
        }
        prop_assert!(determined(&grid).is_empty(), "derivable: {:?}", determined(&grid));
    }
}
