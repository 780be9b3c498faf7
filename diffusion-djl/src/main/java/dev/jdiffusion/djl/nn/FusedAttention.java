package dev.jdiffusion.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValueUtils;
import java.io.IOException;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * PyTorch's fused {@code scaled_dot_product_attention} (on CPU a blocked "flash" kernel that
 * never materialises the T×S score matrix), which DJL's engine API does not expose. It is
 * reached through a one-function TorchScript module ({@link TorchScript}) loaded once per
 * process.
 *
 * <p>If the engine cannot load it (a libtorch without the operator, a non-PyTorch engine), or
 * the system property {@code jdiffusion.attention} is {@code matmul}, {@link #isAvailable} is
 * false and {@link Layers#attention} keeps its sliced matMul–softmax–matMul path. Used for
 * inference only: training keeps the matMul path, whose gradients DJL computes.
 *
 * <p>Thread-safe: the module has no state and libtorch runs a module's method concurrently.
 */
final class FusedAttention {

    private static final Logger LOG = LoggerFactory.getLogger(FusedAttention.class);

    /** The system property that selects the attention kernel: {@code fused} or {@code matmul}. */
    static final String PROPERTY = "jdiffusion.attention";

    private static final String METHODS = """
              def forward(self: __torch__.FusedAttention,
                q: Tensor,
                k: Tensor,
                v: Tensor) -> Tensor:
                return torch.scaled_dot_product_attention(q, k, v)
            """;

    private FusedAttention() {}

    /** Holds the module, loaded on first use; {@code null} if it is not available. */
    private static final class Holder {
        static final PtSymbolBlock MODULE = load();
    }

    /**
     * Whether the fused kernel is used.
     *
     * @return false if disabled by {@value #PROPERTY} or if the engine could not load it
     */
    static boolean isAvailable() {
        String mode = System.getProperty(PROPERTY, "fused").trim().toLowerCase(Locale.ROOT);
        return !mode.equals("matmul") && Holder.MODULE != null;
    }

    /**
     * softmax(q·kᵀ/√d)·v per batch and head.
     *
     * @param q (B, heads, T, d)
     * @param k (B, heads, S, d)
     * @param v (B, heads, S, d)
     * @return (B, heads, T, d), on the manager of {@code q}
     * @throws IllegalStateException if the kernel is not available
     */
    static NDArray apply(NDArray q, NDArray k, NDArray v) {
        PtSymbolBlock module = Holder.MODULE;
        if (module == null) {
            throw new IllegalStateException("fused attention is not available in this engine");
        }
        return IValueUtils.forward(module, new NDList(q, k, v), false).singletonOrThrow();
    }

    private static PtSymbolBlock load() {
        try {
            return TorchScript.load("FusedAttention", METHODS);
        } catch (IOException | RuntimeException | LinkageError e) {
            LOG.warn("fused scaled_dot_product_attention is not available ({}); attention uses"
                    + " sliced matMul", e.toString());
            return null;
        }
    }
}
