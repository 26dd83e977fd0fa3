//! Go's `sort.Sort` (Go 1.19 and later: pattern-defeating quicksort, `sort/zsortinterface.go`),
//! step for step. Prometheus sorts `sort`, `sort_desc`, `topk` and `bottomk` results with it,
//! and the algorithm is not stable: the order it leaves equal values in (and NaNs, which its
//! comparisons treat as smaller than everything, themselves included) is part of the answer.
//! A port of Go's code (BSD-licensed, Copyright The Go Authors), indices kept as Go's `int`.

/// Sorts `v` as Go's `sort.Sort` does with `less` as `Less(i, j)`.
pub fn sort<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let n = v.len() as isize;
    if n <= 1 {
        return;
    }
    let mut s = Sorter { v, less };
    let limit = bits_len(n as usize);
    s.pdqsort(0, n, limit);
}

/// Go's `bits.Len`: the number of bits `x` needs.
fn bits_len(x: usize) -> isize {
    (usize::BITS - x.leading_zeros()) as isize
}

#[derive(PartialEq)]
enum Hint {
    Unknown,
    Increasing,
    Decreasing,
}

struct Sorter<'v, T, F> {
    v: &'v mut [T],
    less: F,
}

impl<T, F: Fn(&T, &T) -> bool> Sorter<'_, T, F> {
    fn less(&self, i: isize, j: isize) -> bool {
        (self.less)(&self.v[i as usize], &self.v[j as usize])
    }

    fn swap(&mut self, i: isize, j: isize) {
        self.v.swap(i as usize, j as usize);
    }

    fn insertion_sort(&mut self, a: isize, b: isize) {
        for i in a + 1..b {
            let mut j = i;
            while j > a && self.less(j, j - 1) {
                self.swap(j, j - 1);
                j -= 1;
            }
        }
    }

    fn sift_down(&mut self, lo: isize, hi: isize, first: isize) {
        let mut root = lo;
        loop {
            let mut child = 2 * root + 1;
            if child >= hi {
                return;
            }
            if child + 1 < hi && self.less(first + child, first + child + 1) {
                child += 1;
            }
            if !self.less(first + root, first + child) {
                return;
            }
            self.swap(first + root, first + child);
            root = child;
        }
    }

    fn heap_sort(&mut self, a: isize, b: isize) {
        let first = a;
        let hi = b - a;
        let mut i = (hi - 1) / 2;
        while i >= 0 {
            self.sift_down(i, hi, first);
            i -= 1;
        }
        let mut i = hi - 1;
        while i >= 0 {
            self.swap(first, first + i);
            self.sift_down(0, i, first);
            i -= 1;
        }
    }

    fn pdqsort(&mut self, mut a: isize, mut b: isize, mut limit: isize) {
        const MAX_INSERTION: isize = 12;
        let mut was_balanced = true;
        let mut was_partitioned = true;
        loop {
            let length = b - a;
            if length <= MAX_INSERTION {
                self.insertion_sort(a, b);
                return;
            }
            if limit == 0 {
                self.heap_sort(a, b);
                return;
            }
            if !was_balanced {
                self.break_patterns(a, b);
                limit -= 1;
            }
            let (mut pivot, mut hint) = self.choose_pivot(a, b);
            if hint == Hint::Decreasing {
                self.reverse_range(a, b);
                pivot = (b - 1) - (pivot - a);
                hint = Hint::Increasing;
            }
            if was_balanced
                && was_partitioned
                && hint == Hint::Increasing
                && self.partial_insertion_sort(a, b)
            {
                return;
            }
            if a > 0 && !self.less(a - 1, pivot) {
                a = self.partition_equal(a, b, pivot);
                continue;
            }
            let (mid, already_partitioned) = self.partition(a, b, pivot);
            was_partitioned = already_partitioned;
            let (left_len, right_len) = (mid - a, b - mid);
            let balance_threshold = length / 8;
            if left_len < right_len {
                was_balanced = left_len >= balance_threshold;
                self.pdqsort(a, mid, limit);
                a = mid + 1;
            } else {
                was_balanced = right_len >= balance_threshold;
                self.pdqsort(mid + 1, b, limit);
                b = mid;
            }
        }
    }

    fn partition(&mut self, a: isize, b: isize, pivot: isize) -> (isize, bool) {
        self.swap(a, pivot);
        let (mut i, mut j) = (a + 1, b - 1);
        while i <= j && self.less(i, a) {
            i += 1;
        }
        while i <= j && !self.less(j, a) {
            j -= 1;
        }
        if i > j {
            self.swap(j, a);
            return (j, true);
        }
        self.swap(i, j);
        i += 1;
        j -= 1;
        loop {
            while i <= j && self.less(i, a) {
                i += 1;
            }
            while i <= j && !self.less(j, a) {
                j -= 1;
            }
            if i > j {
                break;
            }
            self.swap(i, j);
            i += 1;
            j -= 1;
        }
        self.swap(j, a);
        (j, false)
    }

    fn partition_equal(&mut self, a: isize, b: isize, pivot: isize) -> isize {
        self.swap(a, pivot);
        let (mut i, mut j) = (a + 1, b - 1);
        loop {
            while i <= j && !self.less(a, i) {
                i += 1;
            }
            while i <= j && self.less(a, j) {
                j -= 1;
            }
            if i > j {
                break;
            }
            self.swap(i, j);
            i += 1;
            j -= 1;
        }
        i
    }

    fn partial_insertion_sort(&mut self, a: isize, b: isize) -> bool {
        const MAX_STEPS: usize = 5;
        const SHORTEST_SHIFTING: isize = 50;
        let mut i = a + 1;
        for _ in 0..MAX_STEPS {
            while i < b && !self.less(i, i - 1) {
                i += 1;
            }
            if i == b {
                return true;
            }
            if b - a < SHORTEST_SHIFTING {
                return false;
            }
            self.swap(i, i - 1);
            // Go's loop bound is 1, not `a + 1`; kept as it is.
            if i - a >= 2 {
                let mut j = i - 1;
                while j >= 1 {
                    if !self.less(j, j - 1) {
                        break;
                    }
                    self.swap(j, j - 1);
                    j -= 1;
                }
            }
            if b - i >= 2 {
                let mut j = i + 1;
                while j < b {
                    if !self.less(j, j - 1) {
                        break;
                    }
                    self.swap(j, j - 1);
                    j += 1;
                }
            }
        }
        false
    }

    fn break_patterns(&mut self, a: isize, b: isize) {
        let length = b - a;
        if length >= 8 {
            let mut random = length as u64;
            let modulus = 1usize << bits_len(length as usize);
            let mut idx = a + (length / 4) * 2 - 1;
            while idx <= a + (length / 4) * 2 + 1 {
                // Go's `xorshift.Next` in package sort.
                random ^= random << 13;
                random ^= random >> 7;
                random ^= random << 17;
                let mut other = (random as usize & (modulus - 1)) as isize;
                if other >= length {
                    other -= length;
                }
                self.swap(idx, a + other);
                idx += 1;
            }
        }
    }

    fn choose_pivot(&mut self, a: isize, b: isize) -> (isize, Hint) {
        const SHORTEST_NINTHER: isize = 50;
        const MAX_SWAPS: usize = 4 * 3;
        let l = b - a;
        let mut swaps = 0usize;
        let mut i = a + l / 4;
        let mut j = a + l / 4 * 2;
        let mut k = a + l / 4 * 3;
        if l >= 8 {
            if l >= SHORTEST_NINTHER {
                i = self.median_adjacent(i, &mut swaps);
                j = self.median_adjacent(j, &mut swaps);
                k = self.median_adjacent(k, &mut swaps);
            }
            j = self.median(i, j, k, &mut swaps);
        }
        match swaps {
            0 => (j, Hint::Increasing),
            MAX_SWAPS => (j, Hint::Decreasing),
            _ => (j, Hint::Unknown),
        }
    }

    fn order2(&self, a: isize, b: isize, swaps: &mut usize) -> (isize, isize) {
        if self.less(b, a) {
            *swaps += 1;
            return (b, a);
        }
        (a, b)
    }

    fn median(&self, a: isize, b: isize, c: isize, swaps: &mut usize) -> isize {
        let (a, b) = self.order2(a, b, swaps);
        let (b, c) = self.order2(b, c, swaps);
        let _ = c;
        let (_, b) = self.order2(a, b, swaps);
        b
    }

    fn median_adjacent(&self, a: isize, swaps: &mut usize) -> isize {
        self.median(a - 1, a, a + 1, swaps)
    }

    fn reverse_range(&mut self, a: isize, b: isize) {
        let (mut i, mut j) = (a, b - 1);
        while i < j {
            self.swap(i, j);
            i += 1;
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_a_sort() {
        // A spread of lengths and patterns, through every path (insertion, partitions, the
        // equal-elements partition, pattern breaking, heap sort when the limit runs out).
        let mut seed = 7u64;
        for n in [0usize, 1, 2, 13, 50, 51, 100, 1000, 4096] {
            for pattern in 0..5 {
                let mut v: Vec<i64> = (0..n as i64)
                    .map(|i| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                        match pattern {
                            0 => (seed >> 33) as i64 % 1000,
                            1 => i,
                            2 => -i,
                            3 => i % 3,
                            _ => (i * 7919) % 17,
                        }
                    })
                    .collect();
                let mut want = v.clone();
                want.sort();
                sort(&mut v, |a, b| a < b);
                assert_eq!(v, want, "n {n} pattern {pattern}");
            }
        }
    }

    /// The orders Prometheus 3.5.3 gives `sort` and `sort_desc` of 120 values with ties and
    /// NaNs (its answers on the benchmark data, as positions in the unsorted vector): with the
    /// comparisons Prometheus uses, the port leaves them in the same order.
    #[test]
    fn leaves_ties_and_nans_where_prometheus_does() {
        let cases: [(&[f64], &[usize], &[usize]); 2] = [
            // round(node_memory_free_bytes / 1e9)
            (
                &[
                    7.0, 8.0, 3.0, 4.0, 2.0, 6.0, 3.0, 8.0, 3.0, 3.0, 7.0, 5.0, 6.0, 1.0, 5.0, 7.0,
                    7.0, 3.0, 1.0, 7.0, 5.0, 7.0, 3.0, 3.0, 4.0, 3.0, 3.0, 3.0, 4.0, 5.0, 7.0, 4.0,
                    7.0, 5.0, 8.0, 7.0, 2.0, 4.0, 3.0, 5.0, 5.0, 6.0, 8.0, 2.0, 4.0, 7.0, 6.0, 5.0,
                    5.0, 4.0, 4.0, 6.0, 2.0, 7.0, 2.0, 1.0, 3.0, 1.0, 1.0, 6.0, 7.0, 2.0, 3.0, 4.0,
                    2.0, 1.0, 5.0, 1.0, 4.0, 6.0, 8.0, 3.0, 2.0, 7.0, 3.0, 7.0, 4.0, 2.0, 7.0, 4.0,
                    4.0, 5.0, 5.0, 5.0, 4.0, 6.0, 6.0, 3.0, 6.0, 5.0, 8.0, 2.0, 8.0, 8.0, 5.0, 5.0,
                    6.0, 6.0, 7.0, 4.0, 2.0, 5.0, 6.0, 1.0, 5.0, 4.0, 6.0, 2.0, 6.0, 4.0, 4.0, 3.0,
                    6.0, 2.0, 3.0, 4.0, 3.0, 2.0, 5.0, 2.0,
                ],
                &[
                    58, 67, 65, 55, 103, 18, 57, 13, 64, 54, 43, 77, 113, 72, 36, 61, 119, 91, 117,
                    107, 52, 4, 100, 25, 17, 9, 26, 27, 23, 22, 74, 56, 62, 87, 2, 6, 111, 71, 38,
                    116, 114, 8, 110, 76, 44, 79, 37, 68, 80, 49, 50, 84, 31, 99, 28, 24, 105, 109,
                    115, 63, 3, 89, 81, 118, 11, 14, 66, 48, 47, 20, 104, 101, 29, 95, 94, 33, 83,
                    40, 82, 39, 41, 96, 59, 5, 12, 85, 86, 112, 88, 51, 108, 106, 69, 102, 46, 97,
                    30, 75, 98, 35, 45, 78, 60, 21, 10, 53, 32, 19, 73, 16, 15, 0, 90, 34, 92, 70,
                    7, 93, 42, 1,
                ],
                &[
                    93, 1, 42, 34, 70, 90, 92, 7, 30, 78, 10, 45, 35, 98, 53, 15, 16, 32, 0, 19,
                    60, 21, 73, 75, 5, 102, 106, 69, 86, 88, 85, 41, 97, 59, 108, 12, 51, 46, 96,
                    112, 29, 66, 39, 118, 104, 101, 11, 47, 48, 95, 94, 14, 89, 33, 20, 83, 82, 81,
                    40, 80, 105, 115, 110, 63, 109, 3, 31, 28, 68, 44, 99, 37, 49, 50, 84, 24, 76,
                    79, 6, 87, 111, 62, 56, 114, 74, 22, 27, 9, 71, 2, 17, 38, 26, 116, 8, 25, 23,
                    72, 77, 36, 100, 91, 52, 61, 54, 117, 4, 107, 113, 64, 43, 119, 18, 65, 67,
                    103, 13, 55, 57, 58,
                ],
            ),
            // (round(node_memory_free_bytes / 1e9) > 6) or (node_memory_free_bytes * NaN)
            (
                &[
                    7.0,
                    8.0,
                    8.0,
                    7.0,
                    7.0,
                    7.0,
                    7.0,
                    7.0,
                    7.0,
                    7.0,
                    8.0,
                    7.0,
                    8.0,
                    7.0,
                    7.0,
                    7.0,
                    8.0,
                    7.0,
                    7.0,
                    7.0,
                    8.0,
                    8.0,
                    8.0,
                    7.0,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                ],
                &[
                    5, 13, 0, 11, 17, 3, 14, 4, 15, 6, 9, 19, 7, 18, 8, 23, 22, 10, 20, 16, 21, 2,
                    1, 12, 65, 33, 69, 63, 31, 67, 68, 71, 35, 53, 117, 76, 112, 77, 79, 39, 60,
                    83, 84, 41, 85, 87, 43, 89, 91, 114, 92, 45, 93, 95, 47, 97, 99, 118, 30, 64,
                    100, 49, 101, 32, 103, 70, 34, 72, 51, 113, 74, 36, 107, 78, 38, 80, 108, 25,
                    105, 109, 82, 40, 86, 42, 88, 90, 44, 110, 26, 119, 94, 46, 37, 111, 66, 48,
                    62, 27, 61, 96, 50, 104, 24, 106, 52, 58, 115, 28, 57, 116, 29, 59, 81, 54, 56,
                    75, 98, 73, 102, 55,
                ],
                &[
                    16, 1, 12, 22, 21, 10, 20, 2, 18, 13, 11, 14, 8, 23, 9, 6, 0, 7, 5, 4, 19, 15,
                    17, 3, 65, 33, 69, 63, 31, 67, 68, 71, 35, 53, 117, 76, 112, 77, 79, 39, 60,
                    83, 84, 41, 85, 87, 43, 89, 91, 114, 92, 45, 93, 95, 47, 97, 99, 118, 30, 64,
                    100, 49, 101, 32, 103, 70, 34, 72, 51, 113, 74, 36, 107, 78, 38, 80, 108, 25,
                    105, 109, 82, 40, 86, 42, 88, 90, 44, 110, 26, 119, 94, 46, 37, 111, 66, 48,
                    62, 27, 61, 96, 50, 104, 24, 106, 52, 58, 115, 28, 57, 116, 29, 59, 81, 54, 56,
                    75, 98, 73, 102, 55,
                ],
            ),
        ];
        for (values, sorted, sorted_desc) in cases {
            let tagged: Vec<(f64, usize)> = values.iter().copied().zip(0..).collect();
            // sort: Reverse(vectorByReverseValueHeap); sort_desc: Reverse(vectorByValueHeap).
            let mut up = tagged.clone();
            sort(&mut up, |a, b| b.0.is_nan() || b.0 > a.0);
            let mut down = tagged;
            sort(&mut down, |a, b| b.0.is_nan() || b.0 < a.0);
            let order = |v: &[(f64, usize)]| v.iter().map(|p| p.1).collect::<Vec<usize>>();
            assert_eq!(order(&up), sorted);
            assert_eq!(order(&down), sorted_desc);
        }
    }
}
