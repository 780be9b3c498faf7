package dev.jdiffusion.djl.lora;

import dev.jdiffusion.api.ModelLoadException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Map;

/**
 * The hash A1111 writes for a LoRA in an image's {@code Lora hashes} entry: the first 12 hex
 * digits of the file's {@code sshs_model_hash} metadata if it has one, else of the SHA-256 of
 * the tensor data (every byte after the 8-byte length and the JSON header, the "addnet" hash
 * of sd-webui-additional-networks, so that editing metadata does not change it). Stateless and
 * thread-safe.
 */
public final class LoraHashes {

    /** Digits of the short hash. */
    public static final int SHORT_LENGTH = 12;

    private LoraHashes() {}

    /**
     * The short hash of a LoRA file.
     *
     * @param file a {@code .safetensors} LoRA
     * @param metadata its header metadata (for {@code sshs_model_hash}); may be empty
     * @return 12 lower-case hex digits
     * @throws ModelLoadException if the file cannot be read or is too short
     */
    public static String shortHash(Path file, Map<String, String> metadata)
            throws ModelLoadException {
        String stored = metadata.get("sshs_model_hash");
        if (stored != null && stored.matches("[0-9a-fA-F]{64}")) {
            return stored.substring(0, SHORT_LENGTH).toLowerCase(Locale.ROOT);
        }
        return dataHash(file).substring(0, SHORT_LENGTH);
    }

    /**
     * The SHA-256 of a safetensors file's tensor data (everything after the header).
     *
     * @param file the file
     * @return 64 lower-case hex digits
     * @throws ModelLoadException if the file cannot be read or is shorter than its header says
     */
    public static String dataHash(Path file) throws ModelLoadException {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] len = in.readNBytes(8);
            if (len.length < 8) {
                throw new ModelLoadException(file + ": too short for a safetensors file");
            }
            long header = ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (header < 0) {
                throw new ModelLoadException(file + ": negative header length");
            }
            try {
                in.skipNBytes(header);
            } catch (java.io.EOFException e) {
                throw new ModelLoadException(file + ": shorter than its header length " + header,
                        e);
            }
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) {
                sha.update(buf, 0, n);
            }
        } catch (IOException e) {
            throw new ModelLoadException(file + ": cannot read: " + e.getMessage(), e);
        }
        return HexFormat.of().formatHex(sha.digest());
    }
}
