package dev.jdiffusion.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Tiled encoding and decoding with an {@link AutoencoderKL}, with diffusers' {@code
 * enable_tiling} semantics (v0.27.2 {@code tiled_encode}/{@code tiled_decode}): the input is
 * cut into square tiles of the VAE's {@code sample_size} (pixels) or {@code sample_size / f}
 * (latents), overlapping by a quarter; each tile is run on its own; each output tile is blended
 * linearly into the one above it and the one to its left over {@code overlap · tile} rows and
 * columns; and the left/top {@code tile − blend} part of every tile is kept.
 *
 * <p>Memory is that of one tile's forward pass plus the inputs and outputs, whatever the image
 * size: only the previous row of output tiles is kept for blending. Stateless and thread-safe.
 */
final class TiledVae {

    /** diffusers' {@code tile_overlap_factor} for {@code AutoencoderKL}. */
    static final double OVERLAP = 0.25;

    private TiledVae() {}

    /**
     * Runs {@code op} tile by tile over {@code input} and blends the results.
     *
     * @param input (N, C, H, W)
     * @param inTile the tile size in input units
     * @param outTile the tile size in output units (inTile · scale)
     * @param op the network on one tile; its output stays attached to the tile's manager
     * @return the blended output, attached to the manager of {@code input}
     */
    static NDArray tiled(NDArray input, int inTile, int outTile,
            Function<NDArray, NDArray> op) {
        int stride = (int) (inTile * (1 - OVERLAP));
        int blend = (int) (outTile * OVERLAP);
        int limit = outTile - blend;
        long h = input.getShape().get(2);
        long w = input.getShape().get(3);
        NDManager parent = input.getManager();
        try (NDManager tmp = parent.newSubManager()) {
            NDArray in = input.duplicate();
            in.attach(tmp);
            List<NDArray> above = null;
            NDList rows = new NDList();
            for (long i = 0; i < h; i += stride) {
                List<NDArray> row = new ArrayList<>();
                NDList kept = new NDList();
                for (long j = 0; j < w; j += stride) {
                    NDArray tile = op.apply(in.get(":, :, {}:{}, {}:{}", i,
                            Math.min(h, i + inTile), j, Math.min(w, j + inTile)));
                    if (above != null) {
                        tile = blendV(above.get(row.size()), tile, blend);
                    }
                    if (!row.isEmpty()) {
                        tile = blendH(row.get(row.size() - 1), tile, blend);
                    }
                    row.add(tile);
                    Shape s = tile.getShape();
                    kept.add(tile.get(":, :, :{}, :{}", Math.min(limit, s.get(2)),
                            Math.min(limit, s.get(3))));
                }
                rows.add(NDArrays.concat(kept, 3));
                if (above != null) {
                    above.forEach(NDArray::close);
                }
                kept.close();
                above = row;
            }
            NDArray out = NDArrays.concat(rows, 2);
            out.attach(parent);
            return out;
        }
    }

    /** The first {@code extent} rows of b faded in from the last rows of a. */
    static NDArray blendV(NDArray a, NDArray b, int extent) {
        int e = (int) Math.min(Math.min(a.getShape().get(2), b.getShape().get(2)), extent);
        if (e == 0) {
            return b;
        }
        NDArray weight = ramp(b.getManager(), e).reshape(1, 1, e, 1); // y / e
        long ha = a.getShape().get(2);
        NDArray top = a.get(":, :, {}:, :", ha - e).mul(weight.neg().add(1f))
                .add(b.get(":, :, :{}, :", e).mul(weight));
        return e == b.getShape().get(2) ? top
                : NDArrays.concat(new NDList(top, b.get(":, :, {}:, :", e)), 2);
    }

    /** The first {@code extent} columns of b faded in from the last columns of a. */
    static NDArray blendH(NDArray a, NDArray b, int extent) {
        int e = (int) Math.min(Math.min(a.getShape().get(3), b.getShape().get(3)), extent);
        if (e == 0) {
            return b;
        }
        NDArray weight = ramp(b.getManager(), e).reshape(1, 1, 1, e); // x / e
        long wa = a.getShape().get(3);
        NDArray left = a.get(":, :, :, {}:", wa - e).mul(weight.neg().add(1f))
                .add(b.get(":, :, :, :{}", e).mul(weight));
        return e == b.getShape().get(3) ? left
                : NDArrays.concat(new NDList(left, b.get(":, :, :, {}:", e)), 3);
    }

    private static NDArray ramp(NDManager m, int e) {
        float[] w = new float[e];
        for (int k = 0; k < e; k++) {
            w[k] = (float) ((double) k / e);
        }
        return m.create(w);
    }

    /** The pixel tile size: sample_size, or 512 when the config has none. */
    static int sampleTile(AutoencoderKLConfig config) {
        return config.sampleSize() != null ? config.sampleSize() : 512;
    }

    static NDArray decode(AutoencoderKL vae, ParameterStore ps, NDArray latents) {
        int sample = sampleTile(vae.config());
        int latentTile = sample / vae.config().downsampleFactor();
        Shape s = latents.getShape();
        if (s.get(2) <= latentTile && s.get(3) <= latentTile) {
            return vae.decode(ps, latents, false);
        }
        return tiled(latents, latentTile, sample, tile -> vae.decode(ps, tile, false));
    }

    static NDList encode(AutoencoderKL vae, ParameterStore ps, NDArray pixels) {
        int sample = sampleTile(vae.config());
        int latentTile = sample / vae.config().downsampleFactor();
        Shape s = pixels.getShape();
        if (s.get(2) <= sample && s.get(3) <= sample) {
            return vae.encode(ps, pixels, false);
        }
        // mean and log-variance side by side, as diffusers blends its "moments"
        NDArray moments = tiled(pixels, sample, latentTile, tile -> {
            NDList posterior = vae.encode(ps, tile, false);
            return NDArrays.concat(posterior, 1);
        });
        NDList split = moments.split(2, 1);
        NDList out = new NDList(split.get(0).duplicate(), split.get(1).duplicate());
        moments.close();
        return out;
    }
}
