//! Disclosure control of one slice table: municipalities × categories, with the country
//! totals (a margin row), the municipality totals (a margin column, when the key figure
//! has categories) and the grand total.
//!
//! **Primary suppression**: a cell with fewer contributing units than the rule's minimum
//! is suppressed.
//!
//! **Secondary (complementary) suppression**: published totals must not undo a primary
//! suppression. Write every total as minus itself; then each row and each column of the
//! table (margins included) sums to zero. The suppressed cells are the edges of a graph
//! whose nodes are the rows and columns (when there are no municipality totals, every row
//! node is the same free node). A suppressed cell's value is determined by the published
//! cells exactly when its edge is a *bridge* of that graph: lying on no cycle, it is in
//! no solution of the homogeneous system but zero, so the system pins it. A cell on a
//! cycle can move by any amount along the cycle (alternating signs) while every published
//! total stays true. So: for every suppressed cell that is a bridge, find the cheapest
//! path between its row and its column over the other present cells (a suppressed cell
//! costs nothing, a published one its units plus one, so small cells go first and totals
//! last) and suppress every cell on it. The cell and the new cells then lie on one cycle;
//! adding cells never turns a cycle edge into a bridge, so the loop ends with no bridge.
//!
//! This protects against exact recovery by any linear combination of published cells and
//! totals (checked by a property test with Gaussian elimination); like most cell
//! suppression it does not hide the feasible interval that non-negativity implies.

use std::collections::{BTreeMap, BinaryHeap};

/// Why a cell is not published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Fewer contributing units than the disclosure rule's minimum.
    TooFewUnits,
    /// Suppressed so that a primary suppression cannot be computed from totals.
    Complementary,
}

impl Reason {
    /// The reason as the API names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooFewUnits => "too_few_units",
            Self::Complementary => "complementary",
        }
    }
}

/// One present cell: its contributing units and whether it is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub units: u64,
    pub suppressed: Option<Reason>,
}

/// A slice table. Rows `0..rows` are municipalities and row `rows` the country totals;
/// columns `0..cols` are categories and, with `row_totals`, column `cols` the
/// municipality totals. Absent cells had no rows (structural zeros, known to everyone).
#[derive(Debug, Clone)]
pub struct Grid {
    rows: usize,
    cols: usize,
    row_totals: bool,
    cells: BTreeMap<(usize, usize), Cell>,
}

impl Grid {
    /// An empty table of `rows` municipalities and `cols` categories.
    pub fn new(rows: usize, cols: usize, row_totals: bool) -> Self {
        Self {
            rows,
            cols,
            row_totals,
            cells: BTreeMap::new(),
        }
    }

    /// Records a present cell (`row == rows` for country totals, `col == cols` for
    /// municipality totals).
    pub fn insert(&mut self, row: usize, col: usize, units: u64) {
        self.cells.insert(
            (row, col),
            Cell {
                units,
                suppressed: None,
            },
        );
    }

    /// The cell at `(row, col)`, if present.
    pub fn cell(&self, row: usize, col: usize) -> Option<&Cell> {
        self.cells.get(&(row, col))
    }

    /// Every present cell.
    pub fn cells(&self) -> impl Iterator<Item = (&(usize, usize), &Cell)> {
        self.cells.iter()
    }

    /// Primary suppression below `min_units`, then complementary suppression until no
    /// suppressed cell can be computed from the published ones.
    pub fn suppress(&mut self, min_units: u64) {
        for cell in self.cells.values_mut() {
            if cell.units < min_units {
                cell.suppressed = Some(Reason::TooFewUnits);
            }
        }
        loop {
            let Some(bridge) = self.first_bridge() else {
                return;
            };
            match self.cheapest_path(bridge) {
                Some(path) => {
                    for key in path {
                        if let Some(cell) = self.cells.get_mut(&key) {
                            cell.suppressed.get_or_insert(Reason::Complementary);
                        }
                    }
                }
                // No other route between its row and column: nothing published can be
                // combined safely, so the whole slice goes (never happens with margins).
                None => {
                    for cell in self.cells.values_mut() {
                        cell.suppressed.get_or_insert(Reason::Complementary);
                    }
                    return;
                }
            }
        }
    }

    fn row_node(&self, row: usize) -> usize {
        if self.row_totals { row } else { 0 }
    }

    fn col_node(&self, col: usize) -> usize {
        self.rows + 1 + col
    }

    fn ends(&self, (row, col): (usize, usize)) -> (usize, usize) {
        (self.row_node(row), self.col_node(col))
    }

    fn node_count(&self) -> usize {
        self.rows + 1 + self.cols + 1
    }

    /// The first suppressed cell that lies on no cycle of suppressed cells: a bridge of
    /// their graph (Tarjan's lowpoint search, linear in the cells).
    fn first_bridge(&self) -> Option<(usize, usize)> {
        let edges: Vec<(usize, usize)> = self
            .cells
            .iter()
            .filter(|(_, c)| c.suppressed.is_some())
            .map(|(k, _)| *k)
            .collect();
        let mut adjacency = vec![Vec::new(); self.node_count()];
        for (i, key) in edges.iter().enumerate() {
            let (u, v) = self.ends(*key);
            adjacency[u].push((v, i));
            adjacency[v].push((u, i));
        }
        let mut search = Lowpoint {
            adjacency: &adjacency,
            discovered: vec![usize::MAX; self.node_count()],
            low: vec![0; self.node_count()],
            time: 0,
            bridges: Vec::new(),
        };
        for (node, next) in adjacency.iter().enumerate() {
            if search.discovered[node] == usize::MAX && !next.is_empty() {
                search.visit(node, None);
            }
        }
        search.bridges.into_iter().map(|i| edges[i]).min()
    }

    /// The cheapest path between the ends of `edge` over the other present cells.
    fn cheapest_path(&self, edge: (usize, usize)) -> Option<Vec<(usize, usize)>> {
        let mut adjacency = vec![Vec::new(); self.node_count()];
        for (key, cell) in &self.cells {
            if *key == edge {
                continue;
            }
            let cost = match cell.suppressed {
                Some(_) => 0,
                None => cell.units.saturating_add(1),
            };
            let (u, v) = self.ends(*key);
            adjacency[u].push((v, *key, cost));
            adjacency[v].push((u, *key, cost));
        }
        let (from, to) = self.ends(edge);
        let mut best = vec![u64::MAX; self.node_count()];
        let mut via: Vec<Option<(usize, (usize, usize))>> = vec![None; self.node_count()];
        let mut queue = BinaryHeap::new();
        best[from] = 0;
        queue.push(std::cmp::Reverse((0u64, from)));
        while let Some(std::cmp::Reverse((cost, node))) = queue.pop() {
            if cost > best[node] {
                continue;
            }
            for &(next, key, step) in &adjacency[node] {
                let total = cost.saturating_add(step);
                if total < best[next] {
                    best[next] = total;
                    via[next] = Some((node, key));
                    queue.push(std::cmp::Reverse((total, next)));
                }
            }
        }
        if best[to] == u64::MAX {
            return None;
        }
        let mut path = Vec::new();
        let mut node = to;
        while let Some((previous, key)) = via[node] {
            path.push(key);
            node = previous;
        }
        Some(path)
    }
}

/// Depth-first search for bridges: an edge to a child whose subtree reaches no node
/// discovered before the edge's start lies on no cycle.
struct Lowpoint<'a> {
    adjacency: &'a [Vec<(usize, usize)>],
    discovered: Vec<usize>,
    low: Vec<usize>,
    time: usize,
    bridges: Vec<usize>,
}

impl Lowpoint<'_> {
    fn visit(&mut self, node: usize, via: Option<usize>) {
        self.discovered[node] = self.time;
        self.low[node] = self.time;
        self.time += 1;
        let adjacency = self.adjacency;
        for &(next, edge) in &adjacency[node] {
            if Some(edge) == via {
                continue;
            }
            if self.discovered[next] == usize::MAX {
                self.visit(next, Some(edge));
                self.low[node] = self.low[node].min(self.low[next]);
                if self.low[next] > self.discovered[node] {
                    self.bridges.push(edge);
                }
            } else {
                self.low[node] = self.low[node].min(self.discovered[next]);
            }
        }
    }
}

#[cfg(test)]
mod tests;
