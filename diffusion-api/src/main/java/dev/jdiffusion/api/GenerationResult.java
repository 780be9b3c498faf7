package dev.jdiffusion.api;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * The images of one request with what is needed to reproduce each: every image carries its own
 * seed and its parameters text, and the result keeps the request.
 *
 * @param images the generated images, in batch order
 * @param request the request that produced them
 * @param progressions for each image, the x₀ estimates kept every {@link
 *     GenerationRequest#previewEvery()} steps (noise → image); empty lists when not requested
 * @param elapsed the wall-clock time of the whole request
 */
public record GenerationResult(
        List<GeneratedImage> images,
        GenerationRequest request,
        List<List<GeneratedImage>> progressions,
        Duration elapsed) {

    /**
     * Validates and copies the lists.
     *
     * @param images the images
     * @param request the request
     * @param progressions the progressions, one list per image
     * @param elapsed the time taken
     */
    public GenerationResult {
        images = List.copyOf(images);
        Objects.requireNonNull(request, "request");
        progressions = progressions.stream().map(List::copyOf).toList();
        Objects.requireNonNull(elapsed, "elapsed");
        if (!progressions.isEmpty() && progressions.size() != images.size()) {
            throw new IllegalArgumentException("one progression per image expected");
        }
    }

    /**
     * The seed of each image.
     *
     * @return the seeds in batch order
     */
    public List<Long> seeds() {
        return images.stream().map(i -> i.seed().orElseThrow()).toList();
    }

    /**
     * A one-line summary: image count and size, seeds, preview count, time and request; never
     * pixel data.
     *
     * @return the summary
     */
    @Override
    public String toString() {
        int previews = progressions.stream().mapToInt(List::size).sum();
        String size = images.isEmpty() ? ""
                : " " + images.get(0).width() + "x" + images.get(0).height();
        String seeds = images.stream().map(i -> i.seed().isPresent()
                ? String.valueOf(i.seed().getAsLong()) : "-").toList().toString();
        return String.format(Locale.ROOT, "GenerationResult[%d image%s%s, seeds %s, %d previews,"
                + " %.2f s, %s]", images.size(), images.size() == 1 ? "" : "s", size, seeds,
                previews, elapsed.toNanos() / 1e9, request);
    }
}
