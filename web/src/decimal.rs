//! Decimal text for `f64` without core's float formatting.
//!
//! Any `{x:.2}`, `{x}`, `x.to_string()` or `{x:?}` on an `f64` links core's float
//! formatting into the wasm: Grisu, its Dragon4 fallback and the bignum under them, about
//! 15 KB of code for the few dozen figures the playground shows. Shipped code prints
//! floats through this module instead; tests may keep std's formatting.
//!
//! A finite `f64` is `m · 2^e` with integers `m` and `e`, and for a negative `e` that is
//! `m · 5^-e / 10^-e`: a bignum that only multiplies by a `u32` and divides by 10⁹ gives
//! every decimal digit of the value exactly (`expand`). Rounding then happens on that
//! digit string, so the text is what the binary value is, not what a float product of it
//! rounds to. That is slow (tens of multiplications for a value like `0.1`), so `fixed`
//! first tries the shortcut every figure on the pages takes: `m · 10^places` is exact in
//! a `u128`, and shifting it right by `-e` with the remainder against half gives the
//! rounded result in a few integer operations (`scaled`; a test checks both ways agree).
//!
//! - [`fixed`] is `format!("{x:.places$}")`, rounding the exact binary value as std does:
//!   an exact tie goes to the even digit (`0.125` to two places is `"0.12"`, `0.375` is
//!   `"0.38"`), and a value just under a tie goes down (`1.005` is `1.00499999999999989…`
//!   in binary: `"1.00"`). One deliberate difference: a value that rounds to zero prints
//!   without a sign (`"0.00"` where std prints `"-0.00"` for `-0.001`).
//! - [`shortest`] is `format!("{x}")`: the fewest significant digits that read back as the
//!   same `f64` (the nearest of them if two do), never an exponent.
//! - [`debug`] is `format!("{x:?}")`: like [`shortest`] with at least one digit after the
//!   point, and in exponent form (`1e16`, `1.5e-7`) outside `1e-4 ≤ |x| < 1e16`.
//!
//! Zero never has a sign (`-0.0` prints as `0`, `0.0`, `0.00`), and the non-finite values
//! print as std prints them: `NaN`, `inf`, `-inf`.
//!
//! `f64::clamp` formats floats too (its assertion message shows both bounds with `{:?}`),
//! so shipped code clamps with `max` and `min`. To check that none of it is left: no
//! function in the release wasm's name section mentions `flt2dec`, `float_to_decimal`,
//! `float_to_exponential`, `bignum`, `grisu` or `dragon`.

use std::cmp::Ordering;

/// `x` with exactly `places` digits after the point (none: no point), rounded half to
/// even as std rounds (module docs).
pub fn fixed(x: f64, places: usize) -> String {
    if let Some(text) = non_finite(x) {
        return text.to_owned();
    }
    let (m, e) = decode(x);
    match scaled(m, e, places) {
        Some(q) => with_point(q, places, x < 0.0),
        None => fixed_from_digits(x, places),
    }
}

/// [`fixed`] from every decimal digit of `x` (finite): any value, any number of places.
fn fixed_from_digits(x: f64, places: usize) -> String {
    let (m, e) = decode(x);
    let (mut digits, frac) = expand(m, e);
    // At least one digit before the point.
    if digits.len() <= frac {
        digits.splice(0..0, std::iter::repeat_n(b'0', frac + 1 - digits.len()));
    }
    if frac > places {
        let keep = digits.len() - (frac - places);
        // Over half a unit of the last kept place rounds the magnitude up, under half
        // down, and exactly half (a 5 then zeros) to an even last digit. `keep` is at
        // least 1: one digit stays before the point.
        let up = match digits[keep].cmp(&b'5') {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => {
                digits[keep + 1..].iter().any(|&d| d != b'0') || digits[keep - 1] % 2 == 1
            }
        };
        digits.truncate(keep);
        if up {
            increment(&mut digits);
        }
    } else {
        digits.resize(digits.len() + places - frac, b'0');
    }
    let point = digits.len() - places;
    let negative = x < 0.0 && digits.iter().any(|&d| d != b'0');
    let mut out = String::with_capacity(digits.len() + 2);
    if negative {
        out.push('-');
    }
    push_digits(&mut out, &digits[..point]);
    if places > 0 {
        out.push('.');
        push_digits(&mut out, &digits[point..]);
    }
    out
}

/// `x` as std's `{}` prints it: the shortest decimal that reads back as `x`, without an
/// exponent (module docs).
pub fn shortest(x: f64) -> String {
    let (mut out, digits, point) = match signed_shortest(x) {
        Ok(parts) => parts,
        Err(text) => return text.to_owned(),
    };
    push_positional(&mut out, &digits, point, false);
    out
}

/// The text `x`'s shortest digits start with (its sign), the digits and where the point
/// goes (as [`shortest_digits`]); std's text for a non-finite `x`.
fn signed_shortest(x: f64) -> Result<(String, Vec<u8>, i32), &'static str> {
    if let Some(text) = non_finite(x) {
        return Err(text);
    }
    let (digits, point) = shortest_digits(x);
    let mut out = String::with_capacity(digits.len() + 6);
    if x < 0.0 {
        out.push('-');
    }
    Ok((out, digits, point))
}

/// `x` as std's `{:?}` prints it (module docs).
pub fn debug(x: f64) -> String {
    let (mut out, digits, point) = match signed_shortest(x) {
        Ok(parts) => parts,
        Err(text) => return text.to_owned(),
    };
    let abs = x.abs();
    if abs == 0.0 || (1e-4..1e16).contains(&abs) {
        push_positional(&mut out, &digits, point, true);
    } else {
        push_digits(&mut out, &digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            push_digits(&mut out, &digits[1..]);
        }
        out.push('e');
        out.push_str(&(point - 1).to_string());
    }
    out
}

/// `m · 2^e · 10^places` rounded half to even, when that fits in a `u64`: every figure the
/// pages show, at a few integer operations (the charts print hundreds a frame). `m · 10^p`
/// is exact in a `u128` (below 2⁵³ · 10¹⁹), and so is its shift; `None` sends larger values
/// and more places to [`expand`]'s digits.
fn scaled(m: u64, e: i32, places: usize) -> Option<u64> {
    let p = u32::try_from(places).ok().filter(|p| *p <= 19)?;
    let n = u128::from(m) * 10u128.pow(p);
    let q = if e >= 0 {
        let up = e.unsigned_abs();
        if up >= n.leading_zeros() {
            return None;
        }
        n << up
    } else {
        let down = e.unsigned_abs();
        if down >= 128 {
            // n < 2^117, under half of 2^down: rounds to zero.
            return Some(0);
        }
        let (q, rest, half) = (n >> down, n & ((1 << down) - 1), 1u128 << (down - 1));
        if rest > half || (rest == half && q % 2 == 1) {
            q + 1
        } else {
            q
        }
    };
    u64::try_from(q).ok()
}

/// `q / 10^places` as text, with its sign unless it is zero.
fn with_point(q: u64, places: usize, negative: bool) -> String {
    let digits = q.to_string();
    let mut out = String::with_capacity(digits.len() + places + 3);
    if negative && q != 0 {
        out.push('-');
    }
    if places == 0 {
        out.push_str(&digits);
        return out;
    }
    match digits.len().checked_sub(places) {
        Some(point) if point > 0 => {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
        _ => {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', places - digits.len()));
            out.push_str(&digits);
        }
    }
    out
}

/// Std's text for the non-finite values.
fn non_finite(x: f64) -> Option<&'static str> {
    if x.is_nan() {
        Some("NaN")
    } else if x.is_infinite() {
        Some(if x > 0.0 { "inf" } else { "-inf" })
    } else {
        None
    }
}

/// `|x| = m · 2^e` for a finite `x`: `m` below 2⁵³, at least 2⁵² unless `x` is
/// subnormal or zero.
fn decode(x: f64) -> (u64, i32) {
    let bits = x.to_bits();
    let biased = i32::from(u16::try_from((bits >> 52) & 0x7FF).expect("11 bits"));
    let fraction = bits & ((1 << 52) - 1);
    if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | 1 << 52, biased - 1075)
    }
}

/// The significant digits of the shortest decimal that reads back as `x` (finite), and
/// where its point is: the value is `0.d₁d₂… · 10^point`. Zero is `("0", 1)`.
///
/// The decimal must lie in the interval of reals that round to `x`: halfway to each
/// neighbour, the ends included when `m` is even (reading rounds ties to even). Below a
/// power of two the neighbour is half as far; like std, the interval is then taken a
/// quarter of `2^e` deep on that side. Of the two candidates at each length (the digits of
/// `x` cut, and cut and raised by one) the shortest inside wins, the nearer if both are.
fn shortest_digits(x: f64) -> (Vec<u8>, i32) {
    if x == 0.0 {
        return (vec![b'0'], 1);
    }
    let (m, e) = decode(x);
    // `x` and the ends of its interval, all as integers times 10^-frac.
    let (value, frac) = expand(4 * m, e - 2);
    let (high, _) = expand(4 * m + 2, e - 2);
    let (low, _) = expand(if m == 1 << 52 { 4 * m - 1 } else { 4 * m - 2 }, e - 2);
    let inclusive = m % 2 == 0;
    let inside = |c: &[u8]| {
        let (lo, hi) = (cmp_int(&low, c), cmp_int(c, &high));
        if inclusive {
            lo.is_le() && hi.is_le()
        } else {
            lo.is_lt() && hi.is_lt()
        }
    };
    let mut chosen = value.clone();
    for cut in 1..value.len() {
        let mut down = value[..cut].to_vec();
        down.resize(value.len(), b'0');
        let mut up = value[..cut].to_vec();
        increment(&mut up);
        up.resize(up.len() + value.len() - cut, b'0');
        chosen = match (inside(&down), inside(&up)) {
            (true, true) if value[cut] >= b'5' => up,
            (true, _) => down,
            (false, true) => up,
            (false, false) => continue,
        };
        break;
    }
    let int_digits = i32::try_from(chosen.len()).expect("a short digit string")
        - i32::try_from(frac).expect("at most 1076 places");
    let len = chosen.iter().rposition(|&d| d != b'0').map_or(1, |i| i + 1);
    chosen.truncate(len);
    (chosen, int_digits)
}

/// Appends `0.d₁d₂… · 10^point` without an exponent; with `point_zero`, a whole number
/// gets a `.0` (std's `Debug`).
fn push_positional(out: &mut String, digits: &[u8], point: i32, point_zero: bool) {
    match usize::try_from(point) {
        Ok(p) if p >= digits.len() => {
            push_digits(out, digits);
            out.extend(std::iter::repeat_n('0', p - digits.len()));
            if point_zero {
                out.push_str(".0");
            }
        }
        Ok(p) if p > 0 => {
            push_digits(out, &digits[..p]);
            out.push('.');
            push_digits(out, &digits[p..]);
        }
        _ => {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
            push_digits(out, digits);
        }
    }
}

fn push_digits(out: &mut String, digits: &[u8]) {
    out.extend(digits.iter().map(|&d| char::from(d)));
}

/// Compares two decimal integers written without leading zeros.
fn cmp_int(a: &[u8], b: &[u8]) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Adds one to a decimal integer, growing it by a digit if it was all nines.
fn increment(digits: &mut Vec<u8>) {
    for d in digits.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            return;
        }
    }
    digits.insert(0, b'1');
}

/// The exact decimal digits of `m · 2^e` (no leading zeros; none for zero) and how many
/// of them are after the point (`max(0, -e)`): for a negative `e` the integer
/// `m · 5^-e`, since `m · 2^e = m · 5^-e / 10^-e`.
fn expand(m: u64, e: i32) -> (Vec<u8>, usize) {
    let [lo, hi] = [m & 0xFFFF_FFFF, m >> 32].map(|half| u32::try_from(half).expect("32 bits"));
    let mut limbs = vec![lo, hi];
    let (base, mut n, step) = if e >= 0 {
        (2_u32, e.unsigned_abs(), 31)
    } else {
        (5, e.unsigned_abs(), 13)
    };
    // Multiply by the largest power of the base a u32 holds at a time: 2³¹, 5¹³.
    while n > 0 {
        let k = n.min(step);
        let mut carry = 0;
        for limb in &mut limbs {
            let p = u64::from(*limb) * u64::from(base.pow(k)) + carry;
            *limb = low_u32(p);
            carry = p >> 32;
        }
        if carry > 0 {
            limbs.push(low_u32(carry));
        }
        n -= k;
    }
    // Nine decimal digits at a time, least significant first.
    let mut chunks = Vec::new();
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
    while !limbs.is_empty() {
        let mut rem = 0_u64;
        for limb in limbs.iter_mut().rev() {
            let cur = rem << 32 | u64::from(*limb);
            *limb = low_u32(cur / 1_000_000_000);
            rem = cur % 1_000_000_000;
        }
        chunks.push(low_u32(rem));
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
    }
    let mut digits = Vec::with_capacity(chunks.len() * 9);
    for chunk in chunks.iter().rev() {
        let mut unit = 100_000_000;
        while unit > 0 {
            digits.push(b'0' + u8::try_from(chunk / unit % 10).expect("a digit"));
            unit /= 10;
        }
    }
    let lead = digits.iter().take_while(|&&d| d == b'0').count();
    digits.drain(..lead);
    let frac = if e < 0 { e.unsigned_abs() as usize } else { 0 };
    (digits, frac)
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "the low 32 bits, on purpose (a limb, or a value known to fit)"
)]
fn low_u32(x: u64) -> u32 {
    x as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_rounds_as_std_does() {
        assert_eq!(fixed(1.0, 2), "1.00");
        assert_eq!(fixed(2.345_678, 2), "2.35");
        assert_eq!(fixed(2.344, 2), "2.34");
        assert_eq!(fixed(0.999, 2), "1.00");
        assert_eq!(fixed(9.96, 1), "10.0");
        assert_eq!(fixed(99.5, 0), "100");
        // Exact binary ties go to the even digit, as in std.
        assert_eq!(fixed(0.125, 2), "0.12");
        assert_eq!(fixed(0.375, 2), "0.38");
        assert_eq!(fixed(2.5, 0), "2");
        assert_eq!(fixed(3.5, 0), "4");
        assert_eq!(fixed(1.25, 1), "1.2");
        assert_eq!(fixed(1.75, 1), "1.8");
        assert_eq!(fixed(0.5, 0), "0");
        assert_eq!(fixed(9.5, 0), "10");
        // Not ties in binary: the exact value decides, as in std.
        assert_eq!(fixed(1.005, 2), "1.00");
        assert_eq!(fixed(1.015, 2), "1.01");
        assert_eq!(fixed(0.35, 1), "0.3");
        assert_eq!(fixed(1.05, 1), "1.1");
    }

    #[test]
    fn fixed_negatives_have_no_negative_zero() {
        assert_eq!(fixed(-2.345_678, 2), "-2.35");
        assert_eq!(fixed(-0.125, 2), "-0.12");
        assert_eq!(fixed(-1.5, 0), "-2");
        assert_eq!(fixed(-0.5, 0), "0");
        assert_eq!(fixed(-0.001, 2), "0.00");
        assert_eq!(format!("{:.2}", -0.001), "-0.00");
        assert_eq!(fixed(-0.0, 2), "0.00");
        assert_eq!(fixed(-0.0, 0), "0");
        assert_eq!(fixed(-0.004_999, 2), "0.00");
        assert_eq!(fixed(-0.005_001, 2), "-0.01");
    }

    #[test]
    fn fixed_zero_places_and_zero() {
        assert_eq!(fixed(0.0, 0), "0");
        assert_eq!(fixed(0.0, 3), "0.000");
        assert_eq!(fixed(0.4, 0), "0");
        assert_eq!(fixed(0.6, 0), "1");
        assert_eq!(fixed(1234.0, 0), "1234");
        assert_eq!(fixed(12.0, 1), "12.0");
        assert_eq!(fixed(1e-7, 3), "0.000");
    }

    #[test]
    fn fixed_large_and_tiny_values_are_exact() {
        assert_eq!(fixed(1e21, 1), "1000000000000000000000.0");
        assert_eq!(fixed(1e23, 0), "99999999999999991611392");
        assert_eq!(fixed(f64::MAX, 2), format!("{:.2}", f64::MAX));
        assert_eq!(fixed(-f64::MAX, 0), format!("{:.0}", -f64::MAX));
        assert_eq!(fixed(f64::MIN_POSITIVE, 2), "0.00");
        assert_eq!(fixed(5e-324, 1100), format!("{:.1100}", 5e-324));
        assert_eq!(fixed(2f64.powi(60), 0), "1152921504606846976");
        assert_eq!(fixed(0.1, 20), "0.10000000000000000555");
    }

    #[test]
    fn non_finite_values_read_as_in_std() {
        for f in [fixed(f64::NAN, 2), shortest(f64::NAN), debug(f64::NAN)] {
            assert_eq!(f, "NaN");
        }
        for f in [
            fixed(f64::INFINITY, 1),
            shortest(f64::INFINITY),
            debug(f64::INFINITY),
        ] {
            assert_eq!(f, "inf");
        }
        let neg = f64::NEG_INFINITY;
        for f in [fixed(neg, 0), shortest(neg), debug(neg)] {
            assert_eq!(f, "-inf");
        }
    }

    #[test]
    fn shortest_and_debug_examples() {
        let cases = [
            (0.0, "0", "0.0"),
            (-0.0, "0", "0.0"),
            (3.0, "3", "3.0"),
            (-1.5, "-1.5", "-1.5"),
            (0.1, "0.1", "0.1"),
            (0.1 + 0.2, "0.30000000000000004", "0.30000000000000004"),
            (1e-4, "0.0001", "0.0001"),
            (1.5e-7, "0.00000015", "1.5e-7"),
            (1e15, "1000000000000000", "1000000000000000.0"),
            (1e16, "10000000000000000", "1e16"),
            (1e23, "100000000000000000000000", "1e23"),
            (123.456, "123.456", "123.456"),
            (f64::MAX, &format!("{}", f64::MAX), "1.7976931348623157e308"),
            (5e-324, &format!("{}", 5e-324), "5e-324"),
            (
                f64::MIN_POSITIVE,
                &format!("{}", f64::MIN_POSITIVE),
                "2.2250738585072014e-308",
            ),
        ];
        for (x, text, dbg) in cases {
            assert_eq!(shortest(x), text, "{x:?}");
            assert_eq!(debug(x), dbg, "{x:?}");
        }
    }

    /// A xorshift generator: the property tests below need no seed file.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// Values the playground shows (ratios, milliseconds, KiB) and arbitrary bit patterns.
    fn samples() -> Vec<f64> {
        let mut state = 0x2545_F491_4F6C_DD1D;
        let mut out = Vec::new();
        for i in 0..5_000_u32 {
            out.push(f64::from(i) / 1000.0);
            out.push(f64::from(i) / 1024.0);
            out.push(f64::from(i) / 7.0);
            out.push(-f64::from(i) / 3.0);
        }
        for i in 0..30_000 {
            // Every tenth one any bit pattern (most have huge or tiny magnitudes, slow to
            // expand), the others of moderate magnitude, where the figures live.
            let x = if i % 10 == 0 {
                f64::from_bits(next(&mut state))
            } else {
                let r = next(&mut state);
                let (sign, exponent) = (r & 1, 1003 + r % 40); // 2^-20 to 2^19
                f64::from_bits(sign << 63 | exponent << 52 | r >> 12)
            };
            if x.is_finite() {
                out.push(x);
            }
        }
        out
    }

    /// Whether `x` to `places` places is an exact tie: the digits dropped are 5 and zeros.
    fn is_tie(x: f64, places: usize) -> bool {
        let (m, e) = decode(x);
        let (digits, frac) = expand(m, e);
        if frac <= places || digits.len() < frac - places {
            return false;
        }
        let rest = &digits[digits.len() - (frac - places)..];
        rest[0] == b'5' && rest[1..].iter().all(|&d| d == b'0')
    }

    #[test]
    fn the_integer_shortcut_agrees_with_the_digits() {
        let mut shortcut = 0;
        for x in samples() {
            for places in [0, 1, 2, 3, 6, 12, 19] {
                let (m, e) = decode(x);
                if let Some(q) = scaled(m, e, places) {
                    shortcut += 1;
                    let fast = with_point(q, places, x < 0.0);
                    assert_eq!(
                        fast,
                        fixed_from_digits(x, places),
                        "{x:?} to {places} places"
                    );
                }
            }
        }
        assert!(
            shortcut > 100_000,
            "most samples take the shortcut ({shortcut})"
        );
    }

    #[test]
    fn fixed_matches_std_but_for_negative_zero() {
        let mut ties = 0;
        for x in samples() {
            for places in [0, 1, 2, 3, 6] {
                let ours = fixed(x, places);
                let std = format!("{x:.places$}");
                let std = match std.strip_prefix('-') {
                    Some(abs) if abs.bytes().all(|b| b == b'0' || b == b'.') => abs.to_owned(),
                    _ => std,
                };
                ties += u32::from(is_tie(x, places));
                assert_eq!(ours, std, "{x:?} to {places} places");
            }
        }
        assert!(ties > 100, "the samples include ties ({ties})");
    }

    #[test]
    fn shortest_and_debug_match_std() {
        for x in samples() {
            if x == 0.0 {
                continue;
            }
            assert_eq!(shortest(x), format!("{x}"), "{x:?}");
            assert_eq!(debug(x), format!("{x:?}"), "{x:?}");
        }
    }
}
