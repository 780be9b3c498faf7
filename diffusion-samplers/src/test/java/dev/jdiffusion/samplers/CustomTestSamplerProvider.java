package dev.jdiffusion.samplers;

import ai.djl.ndarray.NDArray;
import dev.jdiffusion.api.Denoiser;
import dev.jdiffusion.api.Sampler;
import dev.jdiffusion.api.SamplerOptions;
import dev.jdiffusion.api.SamplerProvider;
import dev.jdiffusion.api.SamplingContext;

/** A plug-in registered only in the test resources, to prove discovery like the built-ins. */
public final class CustomTestSamplerProvider implements SamplerProvider {

    /** Creates the provider. */
    public CustomTestSamplerProvider() {}

    @Override
    public String name() {
        return "custom_test";
    }

    @Override
    public Sampler create(SamplerOptions options) {
        return new Sampler() {
            @Override
            public String name() {
                return "custom_test";
            }

            @Override
            public NDArray sample(Denoiser d, NDArray x, float[] sigmas, SamplingContext ctx) {
                return d.denoise(x, sigmas[0]);
            }
        };
    }
}
