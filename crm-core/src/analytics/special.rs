//! Special functions for the models, in `f64`.
//!
//! `ln Γ` comes from `libm` (the musl implementation), digamma and the
//! regularised incomplete beta function from `statrs`. The one routine no
//! well-kept crate offers is the Gauss hypergeometric function of the BG/NBD
//! expectations; [`GrowthSeries`] evaluates exactly the combination the model
//! needs, in a form that stays accurate where the textbook form cancels.

/// `ln Γ(x)` for `x > 0`.
pub(crate) fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// The digamma function `ψ(x) = d/dx ln Γ(x)`.
pub(crate) fn digamma(x: f64) -> f64 {
    statrs::function::gamma::digamma(x)
}

/// `ln B(a, b)` for `a, b > 0`.
pub(crate) fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// The regularised incomplete beta function `I_x(a, b)`.
pub(crate) fn beta_reg(a: f64, b: f64, x: f64) -> f64 {
    statrs::function::beta::beta_reg(a, b, x)
}

/// `ln(e^u + e^v)` without overflow; also returns the share `e^v / (e^u + e^v)`.
pub(crate) fn log_add_exp_share(u: f64, v: f64) -> (f64, f64) {
    let d = -(u - v).abs();
    let e = d.exp();
    let lse = u.max(v) + e.ln_1p();
    // One division whichever term is larger (a select, not a branch the
    // processor would mispredict on mixed data).
    let numerator = if v >= u { 1.0 } else { e };
    (lse, numerator / (1.0 + e))
}

/// `1 / (1 + e^z)` without overflow.
pub(crate) fn logistic_complement(z: f64) -> f64 {
    if z > 0.0 {
        let e = (-z).exp();
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + z.exp())
    }
}

/// Most terms a growth series sums before giving up (about 3 ms); reached
/// only for a horizon thousands of times longer than `alpha + T`.
const MAX_SERIES_TERMS: usize = 1_000_000;

/// Coefficients kept per series; later ones are recomputed on the fly.
const STORED_TERMS: usize = 1 << 14;

/// The BG/NBD growth factor
///
/// `G = c/(a-1) · [1 - (1-z)^A · ₂F₁(A, c-a+1; c; z)]`
///
/// with `A = r + x`, `c = a + b + x - 1` and `z = t / (alpha + T + t)`. For
/// `x = 0, T = 0` it is the expected number of purchases of a new customer,
/// E\[X(t)\]; times P(alive) it is the conditional expectation of Fader, Hardie
/// and Lee (2005), equation (10).
///
/// Written as in the paper, the bracket is `0/0` at `a = 1` and, for many
/// purchases `x`, a difference of two huge numbers. Euler's transformation
/// `₂F₁(A, B; c; z) = (1-z)^(c-A-B) ₂F₁(c-A, c-B; c; z)` with `c - B = a - 1`
/// turns it into
///
/// `G = c · [ (1 - u^(a-1)) / (a-1)  -  u^(a-1) · S ]`,  `u = 1 - z`,
///
/// `S = Σ_{n≥1} (c-A)_n (a)_(n-1) / ((c)_n n!) · z^n`,
///
/// whose first part is `-expm1((a-1) ln u)/(a-1)` (exact as `a -> 1`) and
/// whose terms fall like `n^(a-A-2) z^n`, faster the more purchases a
/// customer made. The coefficients of `S` depend only on `(a, A, c)`, i.e.
/// on the customer's `x`, not on `T` or the horizon: a [`GrowthSeries`]
/// computes them once and sums them for any `z` with multiplications only,
/// and the same arithmetic runs whether the coefficients are cached or new.
#[derive(Debug, Clone)]
pub(crate) struct GrowthSeries {
    a: f64,
    cma: f64,
    c: f64,
    /// `coeffs[k]` multiplies `z^(k+1)`.
    coeffs: Vec<f64>,
    /// `ratios[k] = coeffs[k+1] / coeffs[k]`.
    ratios: Vec<f64>,
}

impl GrowthSeries {
    /// The series of `(a, A, c)`.
    pub(crate) fn new(a: f64, big_a: f64, c: f64) -> Self {
        let cma = c - big_a;
        // c is a non-positive integer only for x = 0 and a + b an integer
        // <= 1: a measure-zero case in which the series has a pole; nudging c
        // moves the result by about 1e-12 relative.
        let c = if c <= 0.0 && c == c.round() {
            c + 1e-12
        } else {
            c
        };
        Self {
            a,
            cma,
            c,
            coeffs: Vec::new(),
            ratios: Vec::new(),
        }
    }

    /// Term `k`: its coefficient, into `coeff` (which holds the one
    /// computed from term `k - 1` when the term is not stored yet), and
    /// the ratio to the next; stored for the next sums up to
    /// [`STORED_TERMS`].
    #[inline]
    fn term(&mut self, k: usize, coeff: &mut f64) -> f64 {
        if k < self.ratios.len() {
            *coeff = self.coeffs[k];
            return self.ratios[k];
        }
        let ratio = self.ratio(k);
        if k < STORED_TERMS {
            self.coeffs.push(*coeff);
            self.ratios.push(ratio);
        }
        ratio
    }

    fn ratio(&self, k: usize) -> f64 {
        let n = (k + 1) as f64;
        (self.cma + n) * (self.a + n - 1.0) / ((self.c + n) * (n + 1.0))
    }

    /// G at `z`, with `ln_u = ln(1 - z)` passed in because callers have it
    /// without cancellation (`-ln_1p(t / (alpha + T))`). NaN if the series
    /// does not converge within [`MAX_SERIES_TERMS`] terms.
    pub(crate) fn growth(&mut self, z: f64, ln_u: f64) -> f64 {
        if z <= 0.0 {
            return 0.0;
        }
        let am1 = self.a - 1.0;
        let em1 = (am1 * ln_u).exp_m1();
        let head = if am1 == 0.0 { -ln_u } else { -em1 / am1 };
        let u_pow = 1.0 + em1;
        let mut coeff = self.cma / self.c;
        let mut power = z;
        let mut sum = 0.0;
        for k in 0..MAX_SERIES_TERMS {
            let ratio = self.term(k, &mut coeff);
            let term = coeff * power;
            sum += term;
            let rho = ratio.abs() * z;
            // Once terms shrink geometrically the tail is below term·rho/(1-rho).
            if (rho < 1.0 && term.abs() * rho / (1.0 - rho) <= 1e-16 * sum.abs().max(1e-300))
                || term == 0.0
            {
                return self.c * (head - u_pow * sum);
            }
            coeff *= ratio;
            power *= z;
        }
        f64::NAN
    }
}

/// Points [`GrowthSeries::growth_many`] sums side by side.
const LANES: usize = 16;

/// A point at which [`GrowthSeries::growth_many`] evaluates `G`: `z` and
/// the parts of `G` that depend only on `z` and the model's `a`, not on the
/// frequency (so one age's points serve every frequency at that age).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GrowthPoint {
    z: f64,
    /// `-expm1((a-1) ln u) / (a-1)`, or `-ln u` at `a = 1`.
    head: f64,
    /// `u^(a-1)`.
    u_pow: f64,
}

impl GrowthPoint {
    /// The point `z` of a model with this `a`, with `ln_u = ln(1 - z)` as
    /// in [`GrowthSeries::growth`]; the same operations as there.
    pub(crate) fn new(a: f64, z: f64, ln_u: f64) -> Self {
        if z <= 0.0 {
            return Self {
                z,
                head: 0.0,
                u_pow: 0.0,
            };
        }
        let am1 = a - 1.0;
        let em1 = (am1 * ln_u).exp_m1();
        Self {
            z,
            head: if am1 == 0.0 { -ln_u } else { -em1 / am1 },
            u_pow: 1.0 + em1,
        }
    }
}

impl GrowthSeries {
    /// [`growth`](Self::growth) at each of `points` (made with this
    /// series' `a`), appended to `out` in order. Each point goes through
    /// the same operations as alone (the same result, bit for bit), but
    /// the series advance side by side, term by term: their sums do not
    /// wait for each other, so the processor overlaps them (a horizon of
    /// several steps costs little more than one).
    pub(crate) fn growth_many(&mut self, points: &[GrowthPoint], out: &mut Vec<f64>) {
        for lanes in points.chunks(LANES) {
            self.growth_lanes(lanes, out);
        }
    }

    fn growth_lanes(&mut self, points: &[GrowthPoint], out: &mut Vec<f64>) {
        let mut z = [0.0; LANES];
        let mut power = [0.0; LANES];
        let mut sum = [0.0; LANES];
        let mut head = [0.0; LANES];
        let mut u_pow = [0.0; LANES];
        let mut result = [f64::NAN; LANES];
        let mut active = [false; LANES];
        let mut remaining = 0;
        for (l, point) in points.iter().enumerate().take(LANES) {
            if point.z <= 0.0 {
                result[l] = 0.0;
                continue;
            }
            head[l] = point.head;
            u_pow[l] = point.u_pow;
            z[l] = point.z;
            power[l] = point.z;
            active[l] = true;
            remaining += 1;
        }
        let mut coeff = self.cma / self.c;
        let mut k = 0;
        while remaining > 0 && k < MAX_SERIES_TERMS {
            let ratio = self.term(k, &mut coeff);
            for l in 0..LANES {
                if !active[l] {
                    continue;
                }
                let term = coeff * power[l];
                sum[l] += term;
                let rho = ratio.abs() * z[l];
                // The test of `growth`, lane by lane.
                if (rho < 1.0 && term.abs() * rho / (1.0 - rho) <= 1e-16 * sum[l].abs().max(1e-300))
                    || term == 0.0
                {
                    result[l] = self.c * (head[l] - u_pow[l] * sum[l]);
                    active[l] = false;
                    remaining -= 1;
                } else {
                    power[l] *= z[l];
                }
            }
            coeff *= ratio;
            k += 1;
        }
        out.extend_from_slice(&result[..points.len().min(LANES)]);
    }
}

/// One-off growth factor (see [`GrowthSeries`]).
#[cfg(test)]
pub(crate) fn bgnbd_growth(a: f64, big_a: f64, c: f64, z: f64, ln_u: f64) -> f64 {
    GrowthSeries::new(a, big_a, c).growth(z, ln_u)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct Gauss series, for checking the transformed form where the
    /// direct one is accurate (small z).
    fn hyp2f1_direct(a: f64, b: f64, c: f64, z: f64) -> f64 {
        let mut term = 1.0;
        let mut sum = 1.0;
        for n in 0..10_000 {
            let n = f64::from(n);
            term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
            sum += term;
            if term.abs() < 1e-18 * sum.abs() {
                break;
            }
        }
        sum
    }

    fn growth_direct(a: f64, big_a: f64, c: f64, z: f64) -> f64 {
        let b = c - a + 1.0;
        c / (a - 1.0) * (1.0 - (1.0 - z).powf(big_a) * hyp2f1_direct(big_a, b, c, z))
    }

    #[test]
    fn growth_side_by_side_is_growth_bit_for_bit() {
        for &(a, big_a, c) in &[(0.793, 0.243, 2.219), (0.793, 9.243, 11.2), (1.0, 1.5, 3.0)] {
            let mut alone = GrowthSeries::new(a, big_a, c);
            let mut many = GrowthSeries::new(a, big_a, c);
            // 37 points (three runs of lanes): z from 0 (and below) to
            // near 1, where the series needs the most terms.
            let points: Vec<(f64, f64)> = (0..37)
                .map(|i| {
                    let z = f64::from(i - 1) / 37.5;
                    (z, (-z).ln_1p())
                })
                .collect();
            let at: Vec<GrowthPoint> = points
                .iter()
                .map(|&(z, ln_u)| GrowthPoint::new(a, z, ln_u))
                .collect();
            let mut out = Vec::new();
            many.growth_many(&at, &mut out);
            assert_eq!(out.len(), points.len());
            for (&(z, ln_u), got) in points.iter().zip(&out) {
                let want = alone.growth(z, ln_u);
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "z = {z}: {got} against {want}"
                );
            }
        }
    }

    #[test]
    fn growth_matches_the_textbook_form() {
        for &(a, big_a, c, z) in &[
            (0.793, 0.243, 2.219, 0.3),
            (0.793, 2.243, 4.219, 0.5),
            (2.5, 5.3, 7.1, 0.2),
            (0.4, 1.1, 0.9, 0.6),
            (1.7, 0.6, 3.0, 0.05),
        ] {
            let ln_u = (1.0_f64 - z).ln();
            let got = bgnbd_growth(a, big_a, c, z, ln_u);
            let want = growth_direct(a, big_a, c, z);
            assert!(
                (got - want).abs() <= 1e-10 * want.abs().max(1.0),
                "a={a} A={big_a} c={c} z={z}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn growth_is_continuous_at_a_equal_one() {
        let z: f64 = 0.4;
        let ln_u = (1.0_f64 - z).ln();
        let at_one = bgnbd_growth(1.0, 0.5, 2.0, z, ln_u);
        let near = bgnbd_growth(1.0 + 1e-9, 0.5, 2.0 + 1e-9, z, ln_u);
        assert!(at_one.is_finite());
        assert!((at_one - near).abs() < 1e-7, "{at_one} vs {near}");
    }

    #[test]
    fn cached_and_fresh_coefficients_give_identical_results() {
        let mut cached = GrowthSeries::new(0.793, 2.243, 4.219);
        for z in [0.9_f64, 0.1, 0.5, 0.95, 0.3] {
            let ln_u = (1.0 - z).ln();
            let fresh = bgnbd_growth(0.793, 2.243, 4.219, z, ln_u);
            assert_eq!(cached.growth(z, ln_u).to_bits(), fresh.to_bits(), "z={z}");
        }
    }

    #[test]
    fn log_add_exp_is_stable() {
        let (l, s) = log_add_exp_share(-1000.0, -1000.0);
        assert!((l - (-1000.0 + 2f64.ln())).abs() < 1e-12);
        assert!((s - 0.5).abs() < 1e-15);
        let (l, s) = log_add_exp_share(800.0, 0.0);
        assert!((l - 800.0).abs() < 1e-12);
        assert!(s < 1e-300);
    }

    #[test]
    fn gamma_functions() {
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-13);
        assert!((digamma(1.0) + 0.577_215_664_901_532_9).abs() < 1e-13);
        assert!((ln_beta(2.0, 3.0) - (1.0f64 / 12.0).ln()).abs() < 1e-13);
        assert!((beta_reg(1.0, 1.0, 0.3) - 0.3).abs() < 1e-13);
    }
}
