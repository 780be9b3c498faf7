package dev.jdiffusion.djl.reliability;

import dev.jdiffusion.api.GenerationCancelledException;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.GenerationResult;
import dev.jdiffusion.api.Samplers;
import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.testing.TinyModels;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * A seeded mix of cheap requests for the tiny model: every sampler, sizes 8–24, text-to-image,
 * image-to-image and inpainting, guidance on and off, and some cancelled by their listener at a
 * fixed step. Each request is deterministic, so its outcome can be compared across runs.
 */
final class MixedWorkload {

    /**
     * One request and the step at which its listener cancels (-1: never).
     *
     * @param request the request
     * @param cancelAt the 0-based step index whose event returns false, or -1
     */
    record Item(GenerationRequest request, int cancelAt) {}

    /**
     * What a request ended in: the first image's pixels, or the cancelled step.
     *
     * @param pixels the RGB values of every image, concatenated, or null if cancelled
     * @param cancelledAt the step reported by the cancellation, or -1
     * @param error any other failure, or null
     */
    record Outcome(int[] pixels, int cancelledAt, Throwable error) {
        boolean sameAs(Outcome o) {
            return error == null && o.error == null && cancelledAt == o.cancelledAt
                    && Arrays.equals(pixels, o.pixels);
        }

        @Override
        public String toString() {
            return error != null ? "error " + error : cancelledAt >= 0
                    ? "cancelled at " + cancelledAt : "image hash " + Arrays.hashCode(pixels);
        }
    }

    private MixedWorkload() {}

    static List<Item> items(int count, long seed) {
        Random rnd = new Random(seed);
        List<String> samplers = Samplers.names();
        List<Item> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int size = new int[] {8, 16, 16, 24}[rnd.nextInt(4)];
            int steps = 2 + rnd.nextInt(3);
            int cancelAt = rnd.nextInt(5) == 0 ? rnd.nextInt(steps) : -1;
            GenerationRequest.Builder b = GenerationRequest.builder(
                    new String[] {"a cat face", "red apple", "", "猫 😀"}[rnd.nextInt(4)])
                    .sampler(samplers.get(rnd.nextInt(samplers.size())))
                    .steps(steps).seed(rnd.nextInt(1000))
                    .guidanceScale(rnd.nextBoolean() ? 1.0 : 4.0)
                    .numImages(rnd.nextInt(6) == 0 ? 2 : 1);
            int kind = rnd.nextInt(4);
            if (kind == 0) {
                b.initImage(TinyModels.pattern(size, size, i)).strength(0.6);
            } else if (kind == 1) {
                b.initImage(TinyModels.pattern(size, size, i)).mask(
                        TinyModels.leftHalfMask(size, size)).strength(1.0);
            } else {
                b.size(size, size);
            }
            b.listener(e -> e.stepIndex() != cancelAt);
            out.add(new Item(b.build(), cancelAt));
        }
        return out;
    }

    static Outcome run(DiffusionPipeline pipeline, Item item) {
        try {
            GenerationResult r = pipeline.generate(item.request());
            int[] all = r.images().stream().flatMapToInt(img -> Arrays.stream(img.rgb()))
                    .toArray();
            return new Outcome(all, -1, null);
        } catch (GenerationCancelledException e) {
            return new Outcome(null, e.step(), null);
        } catch (Throwable t) {
            return new Outcome(null, -1, t);
        }
    }
}
