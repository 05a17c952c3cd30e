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
//! **Group totals** (the regions and the size bands: rows of the table that are the sums
//! of some municipalities) add relations the graph does not see. After the graph step,
//! every published relation (each group's and the country's sum per column, each row's
//! sum) is written as a linear system in the suppressed cells and reduced to row echelon
//! form; a suppressed cell is determined exactly when a reduced row holds it alone. While
//! one is, the cheapest published cell of each relation in which it is the only unknown
//! (or, failing that, of any relation holding it) is suppressed too. Suppressing more
//! never determines a cell that was not, so this ends, with no cell determined.
//!
//! This protects against exact recovery by any linear combination of published cells and
//! totals, across requests too, since every request shows a subset of the same published
//! cells (checked by a property test with an independent Gaussian elimination); like
//! most cell suppression it does not hide the feasible interval that non-negativity
//! implies.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use linear::determined;

/// Why a cell is not published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Fewer contributing units than the disclosure rule's minimum.
    TooFewUnits,
    /// A few contributors hold too large a share of the cell (the dominance rule).
    Dominance,
    /// Suppressed so that a primary suppression cannot be computed from totals.
    Complementary,
}

impl Reason {
    /// The reason as the API names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooFewUnits => "too_few_units",
            Self::Dominance => "dominance",
            Self::Complementary => "complementary",
        }
    }
}

/// One present cell: its contributing units, whether a few contributors dominate it,
/// and whether it is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub units: u64,
    pub dominated: bool,
    pub suppressed: Option<Reason>,
}

/// A slice table. Rows `0..rows` are municipalities, row `rows` the country totals and
/// rows `rows + 1 + g` the totals of group `g` (a set of municipality rows); columns
/// `0..cols` are categories and, with `row_totals`, column `cols` the row totals.
/// Absent cells had no rows (structural zeros, known to everyone).
#[derive(Debug, Clone)]
pub struct Grid {
    rows: usize,
    cols: usize,
    row_totals: bool,
    groups: Vec<Vec<usize>>,
    cells: BTreeMap<(usize, usize), Cell>,
}

/// A published relation: the cells (row, col) with their coefficients sum to zero.
pub(crate) type Relation = Vec<((usize, usize), f64)>;

impl Grid {
    /// An empty table of `rows` municipalities and `cols` categories.
    pub fn new(rows: usize, cols: usize, row_totals: bool) -> Self {
        Self {
            rows,
            cols,
            row_totals,
            groups: Vec::new(),
            cells: BTreeMap::new(),
        }
    }

    /// Adds a group total row over the municipality rows `members`; returns its row.
    pub fn add_group(&mut self, members: Vec<usize>) -> usize {
        self.groups.push(members);
        self.rows + self.groups.len()
    }

    /// Records a present cell (`row == rows` for country totals, `col == cols` for
    /// row totals).
    pub fn insert(&mut self, row: usize, col: usize, units: u64) {
        self.insert_cell(row, col, units, false);
    }

    /// Records a present cell and whether the dominance rule withholds it.
    pub fn insert_cell(&mut self, row: usize, col: usize, units: u64, dominated: bool) {
        self.cells.insert(
            (row, col),
            Cell {
                units,
                dominated,
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
            } else if cell.dominated {
                cell.suppressed = Some(Reason::Dominance);
            }
        }
        self.close_cycles();
        self.protect_relations();
    }

    /// The graph step over the municipalities and the country totals.
    fn close_cycles(&mut self) {
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

    /// The cells of the municipality and country rows (the graph step's table).
    fn base_cells(&self) -> impl Iterator<Item = (&(usize, usize), &Cell)> {
        let rows = self.rows;
        self.cells.iter().filter(move |((r, _), _)| *r <= rows)
    }

    /// Every published additive relation: per column, each group's (and the country's)
    /// members sum to its total; with row totals, each row's categories sum to its total.
    /// A relation whose total is absent is skipped (its members are absent too).
    fn relations(&self) -> Vec<Relation> {
        let present = |r: usize, c: usize| self.cells.contains_key(&(r, c));
        let all: Vec<usize> = (0..self.rows).collect();
        let totals = std::iter::once((self.rows, &all)).chain(
            self.groups
                .iter()
                .enumerate()
                .map(|(g, members)| (self.rows + 1 + g, members)),
        );
        let last = if self.row_totals {
            self.cols + 1
        } else {
            self.cols
        };
        let mut out = Vec::new();
        for (total, members) in totals {
            for c in 0..last {
                if !present(total, c) {
                    continue;
                }
                let mut relation: Relation = members
                    .iter()
                    .filter(|&&r| present(r, c))
                    .map(|&r| ((r, c), 1.0))
                    .collect();
                relation.push(((total, c), -1.0));
                out.push(relation);
            }
        }
        if self.row_totals {
            for r in 0..=self.rows + self.groups.len() {
                if !present(r, self.cols) {
                    continue;
                }
                let mut relation: Relation = (0..self.cols)
                    .filter(|&c| present(r, c))
                    .map(|c| ((r, c), 1.0))
                    .collect();
                relation.push(((r, self.cols), -1.0));
                out.push(relation);
            }
        }
        out
    }

    /// The linear-algebra step: suppress further cells until no suppressed cell is
    /// determined by the published relations.
    fn protect_relations(&mut self) {
        let relations = self.relations();
        loop {
            let determined = determined(&relations, |k| {
                self.cells.get(k).is_some_and(|c| c.suppressed.is_some())
            });
            if determined.is_empty() {
                return;
            }
            let mut chosen = BTreeSet::new();
            for x in &determined {
                let holding: Vec<&Relation> = relations
                    .iter()
                    .filter(|r| r.iter().any(|(k, _)| k == x))
                    .collect();
                let alone: Vec<&&Relation> = holding
                    .iter()
                    .filter(|r| {
                        r.iter()
                            .all(|(k, _)| k == x || !self.is_suppressed(k) || chosen.contains(k))
                    })
                    .collect();
                if alone.is_empty() {
                    let any = holding.iter().flat_map(|r| r.iter());
                    chosen.extend(self.cheapest(any));
                } else {
                    for relation in alone {
                        if !relation.iter().any(|(k, _)| k != x && chosen.contains(k)) {
                            chosen.extend(self.cheapest(relation.iter()));
                        }
                    }
                }
            }
            if chosen.is_empty() {
                // Nothing published is left to combine with: withhold the slice.
                for cell in self.cells.values_mut() {
                    cell.suppressed.get_or_insert(Reason::Complementary);
                }
                return;
            }
            for key in chosen {
                if let Some(cell) = self.cells.get_mut(&key) {
                    cell.suppressed.get_or_insert(Reason::Complementary);
                }
            }
        }
    }

    fn is_suppressed(&self, key: &(usize, usize)) -> bool {
        self.cells.get(key).is_some_and(|c| c.suppressed.is_some())
    }

    /// The published cell of `cells` with the fewest units (municipality cells before
    /// totals at equal units, then the first).
    fn cheapest<'a>(
        &self,
        cells: impl Iterator<Item = &'a ((usize, usize), f64)>,
    ) -> Option<(usize, usize)> {
        cells
            .filter_map(|(k, _)| {
                let cell = self.cells.get(k)?;
                cell.suppressed
                    .is_none()
                    .then_some((cell.units, k.0 >= self.rows, *k))
            })
            .min()
            .map(|(_, _, k)| k)
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
            .base_cells()
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
        for (key, cell) in self.base_cells() {
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

mod linear;
#[cfg(test)]
mod tests;
