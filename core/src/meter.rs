//! Ratios for the amplification meters and counters, in one place.

/// `a / b` as a float: 0 when both are 0, infinite when only `b` is (a meter with
/// something on top and nothing below, such as file bytes over zero live bytes).
#[expect(
    clippy::cast_precision_loss,
    reason = "meters: a ratio of counters, precision beyond 2^53 does not matter"
)]
pub(crate) fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        if a == 0 {
            0.0
        } else {
            f64::INFINITY
        }
    } else {
        a as f64 / b as f64
    }
}

/// `a / b`, or 0 when `b` is 0 (for averages over events that have not happened yet).
pub(crate) fn ratio_or_zero(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        ratio(a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn ratios() {
        assert_eq!(ratio(6, 3), 2.0);
        assert_eq!(ratio(0, 0), 0.0);
        assert_eq!(ratio(1, 0), f64::INFINITY);
        assert_eq!(ratio_or_zero(1, 0), 0.0);
        assert_eq!(ratio_or_zero(3, 4), 0.75);
    }
}
