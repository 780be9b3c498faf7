package dev.jdiffusion.api;

/**
 * Service-provider interface through which samplers are plugged in.
 *
 * <p>A provider is listed in {@code META-INF/services/dev.jdiffusion.api.SamplerProvider} of its
 * jar and found by {@link Samplers}. Implementations need a public no-argument constructor and
 * must be thread-safe.
 */
public interface SamplerProvider {

    /**
     * The registry name of the samplers this provider creates.
     *
     * @return a lower-case name such as {@code "dpmpp_2m"}, unique among the installed providers
     */
    String name();

    /**
     * Creates a sampler.
     *
     * @param options per-algorithm settings; settings the algorithm does not use are ignored
     * @return a new or shared immutable sampler
     * @throws IllegalArgumentException if an option is outside the range the algorithm accepts
     */
    Sampler create(SamplerOptions options);
}
