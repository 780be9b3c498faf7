/**
 * Noise schedules of trained models ({@link dev.jdiffusion.samplers.DiffusersScheduler}, read from
 * diffusers configs by {@link dev.jdiffusion.samplers.Schedulers}), the adapter from
 * variance-preserving networks to denoisers ({@link dev.jdiffusion.samplers.VpDenoiser}), and the
 * built-in samplers, registered as {@link dev.jdiffusion.api.SamplerProvider}s: {@code ddpm},
 * {@code ddim}, {@code euler}, {@code euler_a}, {@code heun}, {@code lms}, {@code dpmpp_2m},
 * {@code dpmpp_2m_sde}. Every sampler works in σ space on a denoiser D(x, σ), keeps its history
 * local to one call and is immutable and thread-safe.
 */
package dev.jdiffusion.samplers;
