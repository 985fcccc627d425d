//! Layer mappings between student and teacher (index 0 = embedding output, `i` = layer `i`), and
//! the exact optimal transport behind BERT-EMD.

use crate::pipeline::Mapping;

/// Fixed (student layer, teacher layer) pairs for `skip` and `last`, over layers 1..=L_S.
/// `emd` uses every pair, weighted by a transport plan, so it has no fixed list.
pub fn fixed_pairs(mapping: Mapping, student_layers: usize, teacher_layers: usize) -> Vec<(usize, usize)> {
    match mapping {
        Mapping::Skip => (1..=student_layers).map(|i| (i, (i * teacher_layers) / student_layers)).collect(),
        Mapping::Last => (1..=student_layers).map(|i| (i, teacher_layers - student_layers + i)).collect(),
        Mapping::Emd => Vec::new(),
    }
}

/// Teacher layers a mapping reads (what the teacher cache must hold).
pub fn teacher_layers_needed(mapping: Mapping, student_layers: usize, teacher_layers: usize) -> Vec<usize> {
    match mapping {
        Mapping::Emd => (1..=teacher_layers).collect(),
        m => fixed_pairs(m, student_layers, teacher_layers).into_iter().map(|(_, t)| t).collect(),
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Exact optimal transport between uniform weights over `rows` and `cols` (each side sums to 1)
/// for `cost[i][j]`: returns the flow matrix minimising Σ flow·cost.
///
/// Scaling both sides by lcm(rows, cols) makes every supply and demand an integer, so
/// successive shortest paths (exact for integer min-cost flow) find an optimal vertex.
pub fn uniform_transport(cost: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let rows = cost.len();
    let cols = cost.first().map_or(0, |r| r.len());
    if rows == 0 || cols == 0 {
        return vec![vec![0.0; cols]; rows];
    }
    let total = rows / gcd(rows, cols) * cols;
    let (supply, demand) = (total / rows, total / cols);
    let mut left = vec![supply; rows];
    let mut need = vec![demand; cols];
    let mut flow = vec![vec![0usize; cols]; rows];
    // Residual graph nodes: rows 0..R, cols R..R+C. Bellman-Ford over residual edges each round;
    // augment one shortest path by its bottleneck.
    loop {
        let n = rows + cols;
        let mut dist = vec![f64::INFINITY; n];
        let mut prev: Vec<Option<usize>> = vec![None; n];
        for (i, &l) in left.iter().enumerate() {
            if l > 0 {
                dist[i] = 0.0;
            }
        }
        for _ in 0..n {
            let mut changed = false;
            for i in 0..rows {
                for j in 0..cols {
                    let (r, c) = (i, rows + j);
                    // forward edge row -> col, unlimited capacity
                    if dist[r] + cost[i][j] < dist[c] - 1e-15 {
                        dist[c] = dist[r] + cost[i][j];
                        prev[c] = Some(r);
                        changed = true;
                    }
                    // backward edge col -> row where flow exists
                    if flow[i][j] > 0 && dist[c] - cost[i][j] < dist[r] - 1e-15 {
                        dist[r] = dist[c] - cost[i][j];
                        prev[r] = Some(c);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let Some(sink) = (0..cols).filter(|&j| need[j] > 0 && dist[rows + j].is_finite()).min_by(|&a, &b| dist[rows + a].total_cmp(&dist[rows + b])) else {
            break;
        };
        // walk back to a source row, collecting the path and its bottleneck
        let mut path = vec![rows + sink];
        let mut node = rows + sink;
        while let Some(p) = prev[node] {
            path.push(p);
            node = p;
        }
        let source = *path.last().expect("path has a source");
        let mut amount = left[source].min(need[sink]);
        for w in path.windows(2) {
            let (to, from) = (w[0], w[1]);
            if from >= rows {
                amount = amount.min(flow[to][from - rows]); // backward edge col -> row
            }
        }
        for w in path.windows(2) {
            let (to, from) = (w[0], w[1]);
            if from < rows {
                flow[from][to - rows] += amount;
            } else {
                flow[to][from - rows] -= amount;
            }
        }
        left[source] -= amount;
        need[sink] -= amount;
        if need.iter().all(|&d| d == 0) {
            break;
        }
    }
    flow.iter().map(|r| r.iter().map(|&f| f as f64 / total as f64).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_and_last_pairs() {
        assert_eq!(fixed_pairs(Mapping::Skip, 4, 12), vec![(1, 3), (2, 6), (3, 9), (4, 12)]);
        assert_eq!(fixed_pairs(Mapping::Skip, 4, 6), vec![(1, 1), (2, 3), (3, 4), (4, 6)]);
        assert_eq!(fixed_pairs(Mapping::Last, 4, 6), vec![(1, 3), (2, 4), (3, 5), (4, 6)]);
        assert_eq!(crate::model::LayerSubset::evenly_spaced((), 4, 6).layers, vec![0, 2, 3, 5]);
        assert_eq!(teacher_layers_needed(Mapping::Emd, 2, 3), vec![1, 2, 3]);
    }

    /// Every integral flow with the given row/column sums (the LP's vertices are among them).
    fn all_flows(rows: usize, cols: usize, supply: usize, demand: usize) -> Vec<Vec<usize>> {
        fn rec(cell: usize, rows: usize, cols: usize, supply: usize, demand: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
            if cell == rows * cols {
                let ok_rows = (0..rows).all(|i| (0..cols).map(|j| cur[i * cols + j]).sum::<usize>() == supply);
                let ok_cols = (0..cols).all(|j| (0..rows).map(|i| cur[i * cols + j]).sum::<usize>() == demand);
                if ok_rows && ok_cols {
                    out.push(cur.clone());
                }
                return;
            }
            let (i, j) = (cell / cols, cell % cols);
            let row_used: usize = (0..j).map(|k| cur[i * cols + k]).sum();
            let col_used: usize = (0..i).map(|k| cur[k * cols + j]).sum();
            for v in 0..=(supply - row_used).min(demand - col_used) {
                cur.push(v);
                rec(cell + 1, rows, cols, supply, demand, cur, out);
                cur.pop();
            }
        }
        let mut out = Vec::new();
        rec(0, rows, cols, supply, demand, &mut Vec::new(), &mut out);
        out
    }

    #[test]
    fn transport_matches_brute_force() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for (rows, cols) in [(2, 3), (3, 2), (2, 4), (3, 3), (2, 6), (3, 4)] {
            for _ in 0..20 {
                let cost: Vec<Vec<f64>> = (0..rows).map(|_| (0..cols).map(|_| rng.random::<f64>()).collect()).collect();
                let flow = uniform_transport(&cost);
                let total = rows / gcd(rows, cols) * cols;
                for r in &flow {
                    assert!((r.iter().sum::<f64>() - 1.0 / rows as f64).abs() < 1e-12);
                }
                for j in 0..cols {
                    assert!((flow.iter().map(|row| row[j]).sum::<f64>() - 1.0 / cols as f64).abs() < 1e-12);
                }
                let ours: f64 = (0..rows).flat_map(|i| (0..cols).map(move |j| (i, j))).map(|(i, j)| flow[i][j] * cost[i][j]).sum();
                let best = all_flows(rows, cols, total / rows, total / cols)
                    .iter()
                    .map(|f| (0..rows * cols).map(|k| f[k] as f64 * cost[k / cols][k % cols]).sum::<f64>() / total as f64)
                    .fold(f64::INFINITY, f64::min);
                assert!((ours - best).abs() < 1e-9, "{rows}x{cols}: ours {ours} best {best}");
            }
        }
    }
}
