package dev.jdiffusion.api;

import ai.djl.ndarray.NDArray;

/** A provider registered only in this module's test resources, to prove discovery. */
public final class TestOnlySamplerProvider implements SamplerProvider {

    @Override
    public String name() {
        return "test_only";
    }

    @Override
    public Sampler create(SamplerOptions options) {
        double eta = options.eta().orElse(0.25);
        return new Sampler() {
            @Override
            public String name() {
                return "test_only:" + eta;
            }

            @Override
            public NDArray sample(Denoiser d, NDArray x, float[] sigmas, SamplingContext ctx) {
                return d.denoise(x, sigmas[0]);
            }
        };
    }
}
