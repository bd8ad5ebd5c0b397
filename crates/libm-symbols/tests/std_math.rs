//! `f64::exp` and `f64::powf` in a process that links this crate: they give
//! C's answers, and the process has no `libm.so.6` mapped.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use libm_symbols as _;

#[test]
fn std_math_works_without_libm_so() {
    // black_box: computed at run time, through the symbols, not folded.
    let e = std::hint::black_box(1.0_f64).exp();
    assert!((e - std::f64::consts::E).abs() < 1e-15, "exp(1) = {e}");
    assert_eq!(std::hint::black_box(0.0_f64).exp(), 1.0);
    assert!(std::hint::black_box(-1000.0_f64).exp() == 0.0);
    assert_eq!(std::hint::black_box(2.0_f64).powf(10.0), 1024.0);
    assert_eq!(std::hint::black_box(9.0_f64).powf(0.5), 3.0);
    assert!(std::hint::black_box(-1.0_f64).powf(0.5).is_nan());

    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    let libm: Vec<&str> = maps.lines().filter(|l| l.contains("/libm.so")).collect();
    assert!(libm.is_empty(), "libm.so is mapped: {libm:?}");
}
