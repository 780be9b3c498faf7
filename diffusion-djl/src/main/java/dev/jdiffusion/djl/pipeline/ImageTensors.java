package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.api.GeneratedImage;
import java.util.Map;

/** Conversions between images and the tensors networks use. */
final class ImageTensors {

    private ImageTensors() {}

    /**
     * An image as a (1, 3, H, W) float tensor with values in [−1, 1].
     *
     * @param manager owner of the result
     * @param image the image
     * @return the tensor
     */
    static NDArray toTensor(NDManager manager, GeneratedImage image) {
        int w = image.width();
        int h = image.height();
        int[] rgb = image.rgb();
        float[] data = new float[3 * w * h];
        int plane = w * h;
        for (int i = 0; i < plane; i++) {
            int p = rgb[i];
            data[i] = ((p >> 16) & 0xFF) / 127.5f - 1f;
            data[plane + i] = ((p >> 8) & 0xFF) / 127.5f - 1f;
            data[2 * plane + i] = (p & 0xFF) / 127.5f - 1f;
        }
        return manager.create(data, new Shape(1, 3, h, w));
    }

    /**
     * A mask as a (1, 1, H, W) tensor: 1 where the luminance is at least one half (repaint),
     * 0 elsewhere (keep).
     *
     * @param manager owner of the result
     * @param mask the mask image
     * @return the binary mask tensor
     */
    static NDArray maskTensor(NDManager manager, GeneratedImage mask) {
        int[] rgb = mask.rgb();
        float[] data = new float[rgb.length];
        for (int i = 0; i < rgb.length; i++) {
            int p = rgb[i];
            double lum = 0.299 * ((p >> 16) & 0xFF) + 0.587 * ((p >> 8) & 0xFF) + 0.114 * (p & 0xFF);
            data[i] = lum >= 127.5 ? 1f : 0f;
        }
        return manager.create(data, new Shape(1, 1, mask.height(), mask.width()));
    }

    /**
     * Converts one image of a (N, 3, H, W) batch in [−1, 1] to 8-bit RGB, rounding to nearest.
     *
     * @param pixels the batch, any device
     * @param index which image
     * @param seed the image's seed, or {@code null}
     * @param text PNG text entries
     * @return the image
     */
    static GeneratedImage toImage(NDArray pixels, int index, Long seed, Map<String, String> text) {
        Shape s = pixels.getShape();
        int h = (int) s.get(2);
        int w = (int) s.get(3);
        float[] data = pixels.get(index).toType(ai.djl.ndarray.types.DataType.FLOAT32, false)
                .toFloatArray();
        int plane = w * h;
        int[] rgb = new int[plane];
        for (int i = 0; i < plane; i++) {
            rgb[i] = (to8Bit(data[i]) << 16) | (to8Bit(data[plane + i]) << 8)
                    | to8Bit(data[2 * plane + i]);
        }
        return new GeneratedImage(w, h, rgb, seed, text);
    }

    private static int to8Bit(float v) {
        float x = (v + 1f) * 127.5f;
        if (!(x > 0f)) {
            return 0; // also maps NaN to 0; NaN is detected earlier and reported as an error
        }
        return x >= 255f ? 255 : Math.round(x);
    }
}
