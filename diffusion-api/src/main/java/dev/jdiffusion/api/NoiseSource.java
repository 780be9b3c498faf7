package dev.jdiffusion.api;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * A source of standard normal noise that belongs to one request, never to the engine's global
 * random generator, so concurrent requests cannot disturb each other's randomness.
 *
 * <p>{@link #seeded(long)} returns the reference implementation: its draws equal those of
 * PyTorch's CPU generator after {@code torch.manual_seed(seed)}, call for call ({@code
 * torch.randn(shape)}), so seeds carry over from diffusers' CPU-generator recipes. The values are
 * computed in Java and therefore identical on every device.
 *
 * <p>A noise source is stateful (each draw advances it) and not thread-safe: use one per
 * request.
 */
public interface NoiseSource {

    /**
     * Draws standard normal float32 noise.
     *
     * @param manager the manager (and so the device) that owns the result
     * @param shape the shape of the result
     * @return a new array of i.i.d. N(0, 1) values
     */
    NDArray randn(NDManager manager, Shape shape);

    /**
     * Draws standard normal values into a Java array, advancing the source exactly as {@link
     * #randn} would for a tensor of that many elements.
     *
     * @param count the number of values
     * @return the values
     */
    float[] randn(int count);

    /**
     * Creates the PyTorch-compatible noise source for a seed.
     *
     * @param seed the seed; like PyTorch's CPU generator, only its low 32 bits matter
     * @return a new noise source
     */
    static NoiseSource seeded(long seed) {
        return new TorchCpuNoise(seed);
    }
}
