package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.api.GenerationCancelledException;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.GenerationResult;
import dev.jdiffusion.api.ImageParameters;
import dev.jdiffusion.api.Pipeline;
import dev.jdiffusion.djl.nn.GradMode;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Base + refiner as diffusers' "ensemble of expert denoisers": the base pipeline denoises the
 * high-noise part of the schedule ({@code denoising_end = switchAt}), the refiner the rest
 * ({@code denoising_start = switchAt}) from the base's latents, which are handed over on the
 * device without decoding and never leave the call. See {@link
 * DiffusionPipeline#withRefiner}.
 *
 * <p>The cut follows diffusers: with T training timesteps, the cutoff is {@code round(T − f·T)}
 * (round half to even, as Python rounds); the base runs the steps whose timestep is ≥ the
 * cutoff, the refiner those whose timestep (in its own schedule for the same step count) is
 * below it, starting from the base's latents with no noise added. Both stages use one noise
 * stream per image (an ancestral sampler's refiner steps continue the base's draws) and one
 * sampler. diffusers' second-order schedulers (Heun) cut inside a step; jdiffusion's {@code
 * heun} hands over between whole steps instead, so that case does not reproduce diffusers'
 * images.
 *
 * <p>Thread-safe and immutable: a call holds the read locks of both pipelines (and of those
 * they are derived from), as derived pipelines do, so neither can be closed under it; each
 * call's arrays live in its own child managers.
 */
final class RefinedPipeline implements Pipeline {

    private static final SecureRandom SEEDS = new SecureRandom();

    private final DiffusionPipeline base;
    private final DiffusionPipeline refiner;
    private final double switchAt;
    private volatile boolean closed;

    RefinedPipeline(DiffusionPipeline base, DiffusionPipeline refiner, double switchAt) {
        this.base = base;
        this.refiner = refiner;
        this.switchAt = switchAt;
    }

    /** diffusers' {@code discrete_timestep_cutoff} for a fraction of the schedule. */
    static int cutoff(int trainTimesteps, double fraction) {
        return (int) Math.rint(trainTimesteps - fraction * trainTimesteps);
    }

    /** The index after the base's last step: the steps with a timestep ≥ the cutoff. */
    static int baseEnd(float[] timesteps, int cutoff) {
        int k = 0;
        while (k < timesteps.length && timesteps[k] >= cutoff) {
            k++;
        }
        return k;
    }

    /** The refiner's first step: the steps with a timestep below the cutoff, from the end. */
    static int refinerStart(float[] timesteps, int cutoff) {
        int below = 0;
        for (float t : timesteps) {
            if (t < cutoff) {
                below++;
            }
        }
        return timesteps.length - below;
    }

    @Override
    public GenerationResult generate(GenerationRequest request) {
        long started = System.nanoTime();
        if (closed) {
            throw new IllegalStateException("the base + refiner pipeline is closed");
        }
        if (request.mask() != null) {
            throw new IllegalArgumentException("mask: base + refiner runs text-to-image or"
                    + " image-to-image, not inpainting; run the base alone for inpainting");
        }
        // One seed, size and sampler for both stages, fixed before either plans.
        GenerationRequest.Builder b = request.toBuilder();
        if (request.seed().isEmpty()) {
            b.seed(SEEDS.nextLong() >>> 1);
        }
        if (request.initImage() == null && request.width().isEmpty()
                && request.height().isEmpty()) {
            b.size(base.defaultSize(), base.defaultSize());
        }
        if (request.sampler() == null) {
            b.sampler(base.defaultSampler());
        }
        GenerationRequest r = b.build();
        DiffusionPipeline.Plan first = base.plan(r);
        DiffusionPipeline.Plan second = refiner.plan(r);
        int end = baseEnd(first.timesteps(), cutoff(first.schedule().numTrainTimesteps(),
                switchAt));
        int start = refinerStart(second.timesteps(), cutoff(
                second.schedule().numTrainTimesteps(), switchAt));
        if (end <= first.startIndex()) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "switchAt %s leaves"
                    + " the base no step of %d (timesteps %s...); raise switchAt or the steps",
                    switchAt, r.steps(), first.timesteps()[0]));
        }
        if (start >= second.timesteps().length) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "switchAt %s leaves"
                    + " the refiner no step of %d; lower switchAt or raise the steps",
                    switchAt, r.steps()));
        }
        DiffusionPipeline.Plan high = first.between(first.startIndex(), end);
        DiffusionPipeline.Plan low = second.between(start, second.sigmas().length - 1);
        if (Thread.currentThread().isInterrupted()) {
            throw new GenerationCancelledException(-1, true);
        }
        List<GeneratedImage> images = new ArrayList<>();
        List<List<GeneratedImage>> progressions = new ArrayList<>();
        base.locked(() -> refiner.locked(() -> {
            if (closed) {
                throw new IllegalStateException("the base + refiner pipeline is closed");
            }
            try (GradMode noGrad = GradMode.disabled();
                    NDManager bm = base.manager().newSubManager();
                    NDManager rm = refiner.manager().newSubManager()) {
                BatchNoise noise = DiffusionPipeline.noiseFor(high);
                NDArray latents = base.run(high, bm, new ArrayList<>(), progressions, noise,
                        null);
                NDArray handed = latents.toDevice(rm.getDevice(), false);
                refiner.run(low, rm, images, progressions, noise, handed);
            }
            return null;
        }));
        List<GeneratedImage> labelled = new ArrayList<>();
        for (GeneratedImage image : images) {
            labelled.add(label(image));
        }
        return new GenerationResult(labelled, r, r.previewEvery() > 0 ? progressions
                : List.of(), Duration.ofNanos(System.nanoTime() - started));
    }

    /** The refiner stage's parameters with the base as the model, as AUTOMATIC1111 writes. */
    private GeneratedImage label(GeneratedImage image) {
        String text = image.text().get(GeneratedImage.PARAMETERS_KEY);
        ImageParameters p = text == null ? null : ImageParameters.parse(text).orElse(null);
        if (p == null) {
            return image;
        }
        Map<String, String> settings = new LinkedHashMap<>(p.settings());
        settings.put("Model", base.modelName());
        settings.put("Refiner", refiner.modelName());
        settings.put("Refiner switch at", Double.toString(switchAt));
        Map<String, String> all = new LinkedHashMap<>(image.text());
        all.put(GeneratedImage.PARAMETERS_KEY,
                new ImageParameters(p.prompt(), p.negativePrompt(), settings).text());
        return new GeneratedImage(image.width(), image.height(), image.rgb(),
                image.seed().isPresent() ? image.seed().getAsLong() : null, all);
    }

    /**
     * Marks this pipeline closed; the base and the refiner stay open (their owner closes
     * them). Waits for nothing: a call already past its check finishes.
     */
    @Override
    public void close() {
        closed = true;
    }
}
