package dev.jdiffusion.examples.bench;

/**
 * One measured figure of a benchmark run. Immutable and thread-safe.
 *
 * @param section the benchmark section, e.g. {@code unet-sd15}
 * @param name what was measured, e.g. {@code forward batch 2}
 * @param value the median (or the single measurement where stated)
 * @param unit the unit of {@code value}, e.g. {@code s}, {@code GFLOP/s}, {@code MB}
 * @param note context: spread, runs, derived figures; may be empty
 */
public record Result(String section, String name, double value, String unit, String note) {}
