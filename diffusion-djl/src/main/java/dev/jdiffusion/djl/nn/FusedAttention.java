package dev.jdiffusion.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * PyTorch's fused {@code scaled_dot_product_attention} (on CPU a blocked "flash" kernel that
 * never materialises the T×S score matrix), which DJL's engine API does not expose. It is
 * reached through a one-function TorchScript module that this class writes in memory (a zip of
 * its source text, an empty module pickle and the format version) and loads once per process:
 * the text is compiled by the engine's own libtorch, so no file and no Python are involved.
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

    private static final String ROOT = "fused_attention/";

    private static final String SOURCE = """
            class FusedAttention(Module):
              __parameters__ = []
              __buffers__ = []
              training : bool
              _is_full_backward_hook : Optional[bool]
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
            // The module outlives every pipeline: its manager is never closed.
            NDManager owner = NDManager.newBaseManager("PyTorch");
            if (!(owner instanceof PtNDManager pt)) {
                owner.close();
                return null;
            }
            return JniUtils.loadModule(pt, new ByteArrayInputStream(archive()), true, false);
        } catch (IOException | RuntimeException | LinkageError e) {
            LOG.warn("fused scaled_dot_product_attention is not available ({}); attention uses"
                    + " sliced matMul", e.toString());
            return null;
        }
    }

    /** The TorchScript archive: source, module pickle, constants and format version. */
    static byte[] archive() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            stored(zip, ROOT + "data.pkl", modulePickle());
            stored(zip, ROOT + "code/__torch__.py", SOURCE.getBytes(StandardCharsets.UTF_8));
            // An empty tuple: PROTO 2, EMPTY_TUPLE, STOP.
            stored(zip, ROOT + "constants.pkl", new byte[] {(byte) 0x80, 2, ')', '.'});
            stored(zip, ROOT + "version", "3\n".getBytes(StandardCharsets.US_ASCII));
        }
        return bytes.toByteArray();
    }

    /**
     * The pickled module object: {@code __torch__.FusedAttention} built with the state {training:
     * False, _is_full_backward_hook: None}.
     */
    private static byte[] modulePickle() {
        ByteArrayOutputStream p = new ByteArrayOutputStream();
        p.write(0x80); // PROTO 2
        p.write(2);
        ascii(p, "c__torch__\nFusedAttention\n"); // GLOBAL module, name
        ascii(p, ")"); // EMPTY_TUPLE
        p.write(0x81); // NEWOBJ
        ascii(p, "}("); // EMPTY_DICT, MARK
        unicode(p, "training");
        p.write(0x89); // NEWFALSE
        unicode(p, "_is_full_backward_hook");
        ascii(p, "N"); // NONE
        ascii(p, "ub."); // SETITEMS, BUILD, STOP
        return p.toByteArray();
    }

    /** BINUNICODE: 'X', little-endian 4-byte length, UTF-8 bytes. */
    private static void unicode(ByteArrayOutputStream p, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        p.write('X');
        for (int i = 0; i < 4; i++) {
            p.write((b.length >>> (8 * i)) & 0xff);
        }
        p.write(b, 0, b.length);
    }

    private static void ascii(ByteArrayOutputStream p, String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        p.write(b, 0, b.length);
    }

    private static void stored(ZipOutputStream zip, String name, byte[] data) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.length);
        e.setCompressedSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setCrc(crc.getValue());
        zip.putNextEntry(e);
        zip.write(data);
        zip.closeEntry();
    }
}
