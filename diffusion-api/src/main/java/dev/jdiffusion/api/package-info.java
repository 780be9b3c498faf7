/**
 * The public API of jdiffusion: the contracts between models, samplers and pipelines, the
 * request and result value types, and plug-in discovery for samplers.
 *
 * <p>Conventions used throughout:
 *
 * <ul>
 *   <li>Noise levels are σ in the variance-exploding parameterisation {@code x = x₀ + σ·ε}; a
 *       model trained in the variance-preserving form is adapted once into a {@link
 *       dev.jdiffusion.api.Denoiser} and samplers never see timesteps or prediction types.
 *   <li>Latents are {@link ai.djl.ndarray.NDArray}s of shape (N, C, H, W) that stay on the
 *       model's device between steps.
 *   <li>Every implementation is immutable and thread-safe unless its Javadoc says otherwise.
 * </ul>
 */
package dev.jdiffusion.api;
