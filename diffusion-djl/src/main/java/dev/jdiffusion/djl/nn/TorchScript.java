package dev.jdiffusion.djl.nn;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.JniUtils;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Loads small stateless TorchScript modules written as source text, to reach libtorch operators
 * that DJL's engine API does not expose. The archive (the class's source, a module pickle, an
 * empty constants table and the format version) is written in memory and compiled by the
 * engine's own libtorch, so no file and no Python are involved. Thread-safe.
 */
final class TorchScript {

    private TorchScript() {}

    /**
     * Compiles and loads a module whose class has no parameters, buffers or attributes besides
     * {@code training}.
     *
     * @param className the class name, as in {@code class <className>(Module):}
     * @param methods the method definitions, each indented by two spaces, with the first
     *     parameter {@code self: __torch__.<className>}
     * @return the loaded module; its manager is never closed, so it lives as long as the process
     * @throws IOException if the archive cannot be written
     * @throws IllegalStateException if the default engine is not PyTorch
     * @throws RuntimeException (an engine exception) if libtorch rejects the source
     */
    static PtSymbolBlock load(String className, String methods) throws IOException {
        NDManager owner = NDManager.newBaseManager("PyTorch");
        if (!(owner instanceof PtNDManager pt)) {
            owner.close();
            throw new IllegalStateException("TorchScript needs the PyTorch engine");
        }
        try {
            return JniUtils.loadModule(pt, new ByteArrayInputStream(archive(className, methods)),
                    true, false);
        } catch (IOException | RuntimeException e) {
            owner.close();
            throw e;
        }
    }

    /** The TorchScript archive: source, module pickle, constants and format version. */
    static byte[] archive(String className, String methods) throws IOException {
        String source = "class " + className + "(Module):\n"
                + "  __parameters__ = []\n"
                + "  __buffers__ = []\n"
                + "  training : bool\n"
                + "  _is_full_backward_hook : Optional[bool]\n"
                + methods;
        String root = className.toLowerCase(java.util.Locale.ROOT) + "/";
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            stored(zip, root + "data.pkl", modulePickle(className));
            stored(zip, root + "code/__torch__.py", source.getBytes(StandardCharsets.UTF_8));
            // An empty tuple: PROTO 2, EMPTY_TUPLE, STOP.
            stored(zip, root + "constants.pkl", new byte[] {(byte) 0x80, 2, ')', '.'});
            stored(zip, root + "version", "3\n".getBytes(StandardCharsets.US_ASCII));
        }
        return bytes.toByteArray();
    }

    /**
     * The pickled module object: {@code __torch__.<className>} built with the state {training:
     * False, _is_full_backward_hook: None}.
     */
    private static byte[] modulePickle(String className) {
        ByteArrayOutputStream p = new ByteArrayOutputStream();
        p.write(0x80); // PROTO 2
        p.write(2);
        ascii(p, "c__torch__\n" + className + "\n"); // GLOBAL module, name
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
