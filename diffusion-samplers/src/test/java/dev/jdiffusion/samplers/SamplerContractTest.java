package dev.jdiffusion.samplers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.api.Denoiser;
import dev.jdiffusion.api.GenerationCancelledException;
import dev.jdiffusion.api.NoiseSource;
import dev.jdiffusion.api.Sampler;
import dev.jdiffusion.api.SamplerOptions;
import dev.jdiffusion.api.Samplers;
import dev.jdiffusion.api.SamplingContext;
import dev.jdiffusion.api.StepListener;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Discovery, argument checks, memory, cancellation, reproducibility and thread-safety. */
class SamplerContractTest {

    private static final List<String> BUILT_INS = List.of("ddim", "ddpm", "dpmpp_2m",
            "dpmpp_2m_sde", "euler", "euler_a", "heun", "lcm", "lms");
    private static NDManager manager;

    @BeforeAll
    static void start() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    /** A cheap denoiser that creates a few temporaries like a real adapter. */
    private static final Denoiser SHRINK = (x, sigma) -> x.mul(0.5f).add(0.1f).mul(0.9f);

    @Test
    void builtInsAndPluginsAreDiscovered() {
        List<String> names = Samplers.names();
        assertThat(names).containsAll(BUILT_INS).contains("custom_test");
        for (String n : BUILT_INS) {
            assertThat(Samplers.create(n).name()).isEqualTo(n);
        }
        assertThat(Samplers.create("CUSTOM_TEST").name()).isEqualTo("custom_test");
        assertThat(Samplers.create("Euler_A")).isInstanceOf(EulerAncestralSampler.class);
    }

    @Test
    void optionsReachTheAlgorithms() {
        assertThat(Samplers.create("lms", SamplerOptions.builder().optOrder(2).build()))
                .hasToString("lms{order=2}");
        assertThatThrownBy(() -> Samplers.create("lms",
                SamplerOptions.builder().optOrder(7).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("order");
        assertThat(Samplers.create("ddim", SamplerOptions.builder().optEta(0.3).build()))
                .hasToString("ddim{eta=0.3}");
    }

    /**
     * A schedule may end at a positive level (the first stage of base + refiner): for the
     * one-step-memory samplers, stopping at σ = 1 and going on from there is the full run.
     */
    @ParameterizedTest
    @ValueSource(strings = {"euler", "heun"})
    void aRunStoppedAtAPositiveLevelContinuesExactly(String name) {
        Sampler s = Samplers.create(name);
        try (NDManager m = manager.newSubManager()) {
            NDArray x = m.ones(new Shape(2, 2)).mul(3);
            NDArray full = s.sample(SHRINK, x, new float[] {3f, 2f, 1f, 0f},
                    SamplingContext.seeded(0));
            NDArray half = s.sample(SHRINK, x, new float[] {3f, 2f, 1f},
                    SamplingContext.seeded(0));
            NDArray rest = s.sample(SHRINK, half, new float[] {1f, 0f},
                    SamplingContext.seeded(0));
            assertThat(half.sub(full).abs().max().getFloat()).as("stopped early")
                    .isGreaterThan(0f);
            assertThat(rest.sub(full).abs().max().getFloat()).isLessThan(1e-6f);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"ddim", "ddpm", "dpmpp_2m", "dpmpp_2m_sde", "euler", "euler_a",
        "heun", "lms"})
    void invalidSigmasRejected(String name) {
        Sampler s = Samplers.create(name);
        try (NDManager m = manager.newSubManager()) {
            NDArray x = m.ones(new Shape(2, 2));
            float[][] bad = {{1f}, {2f, 1f}, {1f, 2f, 0f}, {2f, 2f, 0f}, {Float.NaN, 0f},
                {2f, -1f, 0f}};
            for (float[] b : bad) {
                if (b.length == 2 && b[1] == 1f) {
                    continue; // these samplers may stop at a positive level (see below)
                }
                assertThatThrownBy(() -> s.sample(SHRINK, x, b, SamplingContext.seeded(0)))
                        .as(java.util.Arrays.toString(b))
                        .isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining("sigmas");
            }
        }
    }

    @Test
    void ddimStopsAtAPositiveLevel() {
        // One DDIM step from σ = 2 to σ' = 0.5 is x̂₀ + σ'·(x − x̂₀)/σ: with SHRINK's x̂₀ this is
        // checked against the same formula evaluated here.
        Sampler s = Samplers.create("ddim");
        try (NDManager m = manager.newSubManager()) {
            NDArray x = m.create(new float[] {1f, -2f, 3f, 0.5f}, new Shape(2, 2));
            float[] x0 = SHRINK.denoise(x, 2f).toFloatArray();
            float[] out = s.sample(SHRINK, x, new float[] {2f, 0.5f},
                    SamplingContext.seeded(0)).toFloatArray();
            float[] in = x.toFloatArray();
            for (int i = 0; i < out.length; i++) {
                assertThat(out[i]).isCloseTo(x0[i] + 0.5f * (in[i] - x0[i]) / 2f,
                        org.assertj.core.api.Assertions.within(1e-6f));
            }
        }
    }

    private static int live(NDManager m) {
        return m.getManagedArrays().size();
    }

    @ParameterizedTest
    @ValueSource(strings = {"ddim", "ddpm", "dpmpp_2m", "dpmpp_2m_sde", "euler", "euler_a",
        "heun", "lms"})
    void liveArraysDoNotGrowWithSteps(String name) {
        Sampler s = Samplers.create(name, SamplerOptions.builder().optChurn(5).optEta(1).build());
        for (int steps : new int[] {8, 40}) {
            try (NDManager m = manager.newSubManager()) {
                NDArray x = m.ones(new Shape(1, 4, 8, 8)).muli(10f);
                int before = live(m);
                List<Integer> during = new ArrayList<>();
                StepListener l = e -> {
                    during.add(live(m));
                    return true;
                };
                NDArray out = s.sample(SHRINK, x, SigmaSchedules.karras(steps, 0.01, 10, 7),
                        SamplingContext.of(NoiseSource.seeded(1), l));
                assertThat(out.getManager()).isSameAs(m);
                // after the run: the input and the result only
                assertThat(live(m)).as("%s, %d steps: live arrays after", name, steps)
                        .isEqualTo(before + 1);
                // during the run: bounded by the history of the method, not by the step count
                int settled = during.get(5);
                assertThat(during.subList(5, steps - 1)).as("%s live arrays per step", name)
                        .allMatch(c -> c <= settled);
                assertThat(settled).isLessThan(before + 20);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"ddim", "dpmpp_2m", "dpmpp_2m_sde", "euler_a", "heun", "lms"})
    void cancellationStopsAndReleases(String name) {
        try (NDManager m = manager.newSubManager()) {
            NDArray x = m.ones(new Shape(3, 3));
            int before = live(m);
            StepListener cancelAtThree = e -> e.stepIndex() < 3;
            assertThatThrownBy(() -> Samplers.create(name).sample(SHRINK, x,
                    SigmaSchedules.karras(10, 0.01, 10, 7),
                    SamplingContext.of(NoiseSource.seeded(0), cancelAtThree)))
                    .isInstanceOf(GenerationCancelledException.class)
                    .satisfies(e -> assertThat(((GenerationCancelledException) e).step())
                            .isEqualTo(3));
            assertThat(live(m)).isEqualTo(before);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"ddpm", "euler_a", "dpmpp_2m_sde"})
    void seedReproducesStochasticSamplers(String name) {
        float[] sigmas = SigmaSchedules.karras(12, 0.01, 10, 7);
        Sampler s = Samplers.create(name);
        try (NDManager m = manager.newSubManager()) {
            NDArray x = m.ones(new Shape(4, 5)).muli(10f);
            float[] a = s.sample(SHRINK, x, sigmas, SamplingContext.seeded(7)).toFloatArray();
            float[] b = s.sample(SHRINK, x, sigmas, SamplingContext.seeded(7)).toFloatArray();
            float[] c = s.sample(SHRINK, x, sigmas, SamplingContext.seeded(8)).toFloatArray();
            assertThat(a).containsExactly(b);
            assertThat(a).isNotEqualTo(c);
        }
    }

    @Test
    void oneInstanceServesManyThreads() throws Exception {
        Sampler s = Samplers.create("dpmpp_2m_sde");
        float[] sigmas = SigmaSchedules.karras(20, 0.01, 10, 7);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<float[]>> futures = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                long seed = i % 2;
                futures.add(pool.submit(() -> {
                    try (NDManager m = manager.newSubManager()) {
                        NDArray x = m.ones(new Shape(2, 8)).muli(10f);
                        return s.sample(SHRINK, x, sigmas, SamplingContext.seeded(seed))
                                .toFloatArray();
                    }
                }));
            }
            for (int i = 2; i < 8; i++) {
                assertThat(futures.get(i).get()).containsExactly(futures.get(i % 2).get());
            }
            assertThat(futures.get(0).get()).isNotEqualTo(futures.get(1).get());
        } finally {
            pool.shutdown();
        }
    }

    @Test
    void vpDenoiserConvertsPredictions() {
        DiffusersScheduler sch = Schedulers.stableDiffusion15();
        float sigma = 2f;
        try (NDManager m = manager.newSubManager()) {
            NDArray x = m.create(new float[] {3f, -1f});
            // a model whose prediction is a known constant 0.5, to check each formula by hand
            VpModel constant = (scaled, t) -> scaled.zerosLike().add(0.5f);
            float[] eps = VpDenoiser.of(constant, sch, PredictionType.EPSILON, Double.NaN)
                    .denoise(x, sigma).toFloatArray();
            assertThat(eps).containsExactly(new float[] {2f, -2f}, within()); // x − σ·ε
            float[] v = VpDenoiser.of(constant, sch, PredictionType.V_PREDICTION, Double.NaN)
                    .denoise(x, sigma).toFloatArray();
            // x/(σ²+1) − σ/√(σ²+1)·v = 3/5 − 2/√5·0.5, −1/5 − 2/√5·0.5
            assertThat(v).containsExactly(new float[] {0.6f - 0.4472136f, -0.2f - 0.4472136f},
                    within());
            float[] clipped = VpDenoiser.of(constant, sch, PredictionType.EPSILON, 1.5)
                    .denoise(x, sigma).toFloatArray();
            assertThat(clipped).containsExactly(new float[] {1.5f, -1.5f}, within());
            float[] sample = VpDenoiser.of(constant, sch, PredictionType.SAMPLE, Double.NaN)
                    .denoise(x, sigma).toFloatArray();
            assertThat(sample).containsExactly(new float[] {0.5f, 0.5f}, within());
            // the network sees x/√(σ²+1) and the timestep of σ
            float[] seen = new float[3];
            VpModel spy = (scaled, t) -> {
                float[] s = scaled.toFloatArray();
                seen[0] = s[0];
                seen[1] = s[1];
                seen[2] = t;
                return scaled.zerosLike();
            };
            VpDenoiser.of(spy, sch).denoise(x, sigma);
            assertThat(seen[0]).isCloseTo(3f / (float) Math.sqrt(5), within());
            assertThat(seen[2]).isEqualTo(sch.timestepOf(sigma));
            assertThat(PredictionType.parse("V_Prediction")).isEqualTo(PredictionType.V_PREDICTION);
        }
    }

    private static org.assertj.core.data.Offset<Float> within() {
        return org.assertj.core.data.Offset.offset(1e-5f);
    }
}
