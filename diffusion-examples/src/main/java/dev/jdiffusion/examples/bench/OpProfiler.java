package dev.jdiffusion.examples.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.djl.nn.GroupNorm;
import dev.jdiffusion.examples.bench.Op.Kind;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Times the operations of a forward pass one by one ("replay"): each distinct operation shape
 * of a {@link FlopCounter} list is run on random inputs with the same engine calls the networks
 * use (conv2d, linear, group norm as reshape + layer norm + affine, attention as matMul +
 * softmax + matMul in query slices of at most 2^22 scores), and its median time is attributed
 * to every op of that shape. The sum per block shows where a forward spends its time; the
 * difference to a measured forward is what the replay does not cover (activations, residual
 * additions, concatenations, reshapes and per-op overhead). Not thread-safe.
 */
final class OpProfiler {

    /** The attention slice size of the networks (dev.jdiffusion.djl.nn.Layers.MAX_SCORES). */
    static final long MAX_SCORES = 1L << 22;

    private OpProfiler() {}

    /**
     * Median seconds per distinct op shape.
     *
     * @param ops the operations
     * @param manager where temporaries live (closed per op)
     * @param reps measured repetitions per shape (after one warm-up)
     * @return shape key → median seconds
     */
    static Map<String, Double> timeShapes(List<Op> ops, NDManager manager, int reps)
            throws Exception {
        Map<String, Op> distinct = new LinkedHashMap<>();
        for (Op op : ops) {
            distinct.putIfAbsent(op.shapeKey(), op);
        }
        Map<String, Double> out = new LinkedHashMap<>();
        for (Op op : distinct.values()) {
            try (NDManager m = manager.newSubManager()) {
                NDList in = inputs(op, m);
                Timing.Stats s = Timing.time(1, reps, () -> {
                    try (NDScope scope = new NDScope()) {
                        scope.suppressNotUsedWarning();
                        run(op, in); // PyTorch CPU ops are synchronous
                    }
                });
                out.put(op.shapeKey(), s.median());
            }
        }
        return out;
    }

    private static NDList inputs(Op op, NDManager m) {
        long[] d = op.dims();
        return switch (op.kind()) {
            case CONV -> new NDList(m.randomNormal(new Shape(d[0], d[1], d[5], d[6])),
                    m.randomNormal(new Shape(d[2], d[1], d[3], d[3])).mul(0.01f),
                    m.zeros(new Shape(d[2])));
            case LINEAR -> new NDList(m.randomNormal(new Shape(d[0], d[1])),
                    m.randomNormal(new Shape(d[2], d[1])).mul(0.01f), m.zeros(new Shape(d[2])));
            case ATTENTION -> new NDList(m.randomNormal(new Shape(d[0], d[2], d[1] * d[4])),
                    m.randomNormal(new Shape(d[0], d[3], d[1] * d[4])),
                    m.randomNormal(new Shape(d[0], d[3], d[1] * d[4])));
            case GROUP_NORM -> new NDList(m.randomNormal(new Shape(d[0], d[1], d[2])),
                    m.ones(new Shape(d[1])), m.zeros(new Shape(d[1])));
            case LAYER_NORM -> new NDList(m.randomNormal(new Shape(d[0], d[1])),
                    m.ones(new Shape(d[1])), m.zeros(new Shape(d[1])));
        };
    }

    private static NDArray run(Op op, NDList in) {
        long[] d = op.dims();
        return switch (op.kind()) {
            case CONV -> ai.djl.nn.convolutional.Conv2d.conv2d(in.get(0), in.get(1), in.get(2),
                    new Shape(d[4], d[4]), new Shape(d[7], d[7]), new Shape(1, 1), 1)
                    .singletonOrThrow();
            case LINEAR -> ai.djl.nn.core.Linear.linear(in.get(0), in.get(1), in.get(2))
                    .singletonOrThrow();
            case ATTENTION -> attention(in.get(0), in.get(1), in.get(2), (int) d[1]);
            case GROUP_NORM -> GroupNorm.groupNorm(in.get(0), (int) d[3], in.get(1), in.get(2),
                    1e-5f);
            case LAYER_NORM -> ai.djl.nn.norm.LayerNorm.layerNorm(in.get(0), new Shape(d[1]),
                    in.get(1), in.get(2), 1e-5f).singletonOrThrow();
        };
    }

    /** The same engine calls as the networks' attention (q (B,T,h·d), k, v (B,S,h·d)). */
    private static NDArray attention(NDArray q, NDArray k, NDArray v, int heads) {
        long b = q.getShape().get(0);
        long t = q.getShape().get(1);
        long s = k.getShape().get(1);
        long inner = q.getShape().get(2);
        long d = inner / heads;
        NDArray qh = q.mul((float) (1.0 / Math.sqrt(d)))
                .reshape(b, t, heads, d).transpose(0, 2, 1, 3); // (B, heads, T, d)
        NDArray kh = k.reshape(b, s, heads, d).transpose(0, 2, 3, 1); // (B, heads, d, S)
        NDArray vh = v.reshape(b, s, heads, d).transpose(0, 2, 1, 3); // (B, heads, S, d)
        long slice = Math.max(1, MAX_SCORES / (b * heads * s));
        NDArray out;
        if (slice >= t) {
            out = qh.matMul(kh).softmax(-1).matMul(vh);
        } else {
            NDList parts = new NDList();
            for (long start = 0; start < t; start += slice) {
                NDArray qs = qh.get(":, :, {}:{}", start, Math.min(t, start + slice));
                NDArray part;
                try (NDScope scope = new NDScope()) { // free each slice's scores at once
                    scope.suppressNotUsedWarning();
                    part = qs.matMul(kh).softmax(-1).matMul(vh);
                    NDScope.unregister(part);
                }
                NDScope.register(part);
                parts.add(part);
            }
            out = NDArrays.concat(parts, 2);
        }
        return out.transpose(0, 2, 1, 3).reshape(b, t, inner); // (B, T, heads·d)
    }
}
