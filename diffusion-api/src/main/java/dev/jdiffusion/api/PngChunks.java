package dev.jdiffusion.api;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * A PNG file's header and text chunks, read with bounded memory before ImageIO decodes
 * anything: the size in {@code IHDR}, every chunk inside the file, text entries within {@link
 * GeneratedImage#MAX_TEXT_BYTES} each and {@link GeneratedImage#MAX_TOTAL_TEXT_BYTES} in all,
 * at most {@value #MAX_TEXT_CHUNKS} text chunks.
 * Stateless and thread-safe.
 */
final class PngChunks {

    private static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    private static final int IHDR = type("IHDR");
    private static final int IEND = type("IEND");
    private static final int TEXT = type("tEXt");
    private static final int ZTXT = type("zTXt");
    private static final int ITXT = type("iTXt");

    /** The most text chunks a PNG may have (each would be a map entry). */
    static final int MAX_TEXT_CHUNKS = 1024;

    private PngChunks() {}

    /** Refuses a size over {@link GenerationRequest#MAX_SIZE}. */
    static void checkSize(Path path, long width, long height) throws IOException {
        int max = GenerationRequest.MAX_SIZE;
        if (width > max || height > max) {
            throw new IOException(path + " is a " + width + "x" + height + " image; images at"
                    + " most " + max + " pixels wide and high are read (GenerationRequest.MAX_SIZE):"
                    + " scale it down first");
        }
    }

    /**
     * The text entries of a PNG file, keyword → text, the first of a repeated keyword; checks
     * the {@code IHDR} size first.
     *
     * @return the entries; empty for a file that is not a PNG
     * @throws IOException if the file is refused (size, a chunk past its end, too much text)
     */
    static Map<String, String> text(Path path) throws IOException {
        long fileSize = Files.size(path);
        Map<String, String> out = new LinkedHashMap<>();
        try (InputStream raw = Files.newInputStream(path);
                DataInputStream in = new DataInputStream(new BufferedInputStream(raw, 1 << 16))) {
            byte[] sig = in.readNBytes(SIGNATURE.length);
            if (!Arrays.equals(sig, SIGNATURE)) {
                return out;
            }
            long pos = SIGNATURE.length;
            long textBytes = 0;
            int textChunks = 0;
            boolean first = true;
            while (pos < fileSize) {
                long length = in.readInt() & 0xFFFFFFFFL;
                int type = in.readInt();
                pos += 8;
                if (length > Integer.MAX_VALUE || pos + length + 4 > fileSize) {
                    throw new IOException("corrupt PNG " + path + ": the " + name(type)
                            + " chunk at byte " + (pos - 8) + " declares " + length
                            + " bytes, past the end of the file");
                }
                if (first) {
                    if (type != IHDR || length < 8) {
                        throw new IOException("corrupt PNG " + path + ": it does not start with"
                                + " an IHDR chunk");
                    }
                    long w = in.readInt() & 0xFFFFFFFFL;
                    long h = in.readInt() & 0xFFFFFFFFL;
                    checkSize(path, w, h);
                    in.skipNBytes(length - 8 + 4);
                    first = false;
                } else if (type == TEXT || type == ZTXT || type == ITXT) {
                    if (++textChunks > MAX_TEXT_CHUNKS) {
                        throw new IOException("refusing PNG " + path + ": it has more than "
                                + MAX_TEXT_CHUNKS + " text chunks");
                    }
                    if (length > GeneratedImage.MAX_TEXT_BYTES) {
                        throw tooMuch(path, name(type) + " chunk of " + length + " bytes");
                    }
                    byte[] data = in.readNBytes((int) length);
                    in.skipNBytes(4);
                    int budget = (int) Math.min(GeneratedImage.MAX_TEXT_BYTES,
                            GeneratedImage.MAX_TOTAL_TEXT_BYTES - textBytes);
                    String[] entry = entry(path, type, data, budget);
                    if (entry != null) {
                        textBytes += Math.max(length, entry[1].length());
                        out.putIfAbsent(entry[0], entry[1]);
                    }
                } else {
                    in.skipNBytes(length + 4);
                }
                pos += length + 4;
                if (type == IEND) {
                    break;
                }
            }
        } catch (EOFException e) {
            throw new IOException("corrupt PNG " + path + ": it ends inside a chunk", e);
        }
        return out;
    }

    /** One text chunk as {keyword, text}, or null if it is malformed (ignored, as ImageIO). */
    private static String[] entry(Path path, int type, byte[] data, int budget)
            throws IOException {
        int nul = indexOf(data, 0, (byte) 0);
        if (nul < 1 || nul > 79) {
            return null;
        }
        String keyword = new String(data, 0, nul, StandardCharsets.ISO_8859_1);
        int at = nul + 1;
        if (type == TEXT) {
            return new String[] {keyword, latin1(data, at, data.length, path, budget)};
        }
        if (type == ZTXT) {
            if (at >= data.length || data[at] != 0) {
                return null;
            }
            byte[] text = inflate(path, keyword, data, at + 1, budget);
            return new String[] {keyword, new String(text, StandardCharsets.ISO_8859_1)};
        }
        // iTXt: keyword, compression flag and method, language tag, translated keyword, text.
        if (at + 2 > data.length) {
            return null;
        }
        boolean compressed = data[at] == 1;
        at += 2;
        int lang = indexOf(data, at, (byte) 0);
        int translated = lang < 0 ? -1 : indexOf(data, lang + 1, (byte) 0);
        if (translated < 0) {
            return null;
        }
        at = translated + 1;
        byte[] text = compressed ? inflate(path, keyword, data, at, budget)
                : Arrays.copyOfRange(data, at, data.length);
        if (text.length > budget) {
            throw tooMuch(path, "text '" + keyword + "'");
        }
        return new String[] {keyword, new String(text, StandardCharsets.UTF_8)};
    }

    private static String latin1(byte[] data, int from, int to, Path path, int budget)
            throws IOException {
        if (to - from > budget) {
            throw tooMuch(path, "tEXt text");
        }
        return new String(data, from, to - from, StandardCharsets.ISO_8859_1);
    }

    /** Inflates at most {@code budget} bytes; more is refused (a decompression bomb). */
    private static byte[] inflate(Path path, String keyword, byte[] data, int from, int budget)
            throws IOException {
        Inflater inflater = new Inflater();
        try {
            inflater.setInput(data, from, data.length - from);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            while (!inflater.finished()) {
                int n = inflater.inflate(buf);
                if (n == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
                    throw new IOException("corrupt PNG " + path + ": the compressed text '"
                            + keyword + "' is truncated");
                }
                if (out.size() + n > budget) {
                    throw tooMuch(path, "compressed text '" + keyword + "'");
                }
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        } catch (DataFormatException e) {
            throw new IOException("corrupt PNG " + path + ": the compressed text '" + keyword
                    + "' is not valid zlib data: " + e.getMessage(), e);
        } finally {
            inflater.end();
        }
    }

    private static IOException tooMuch(Path path, String what) {
        return new IOException("refusing PNG " + path + ": its " + what + " exceeds the "
                + (GeneratedImage.MAX_TEXT_BYTES >> 20) + " MiB allowed per text entry ("
                + (GeneratedImage.MAX_TOTAL_TEXT_BYTES >> 20) + " MiB in all)");
    }

    private static int indexOf(byte[] data, int from, byte b) {
        for (int i = from; i < data.length; i++) {
            if (data[i] == b) {
                return i;
            }
        }
        return -1;
    }

    private static int type(String name) {
        byte[] b = name.getBytes(StandardCharsets.US_ASCII);
        return (b[0] & 0xFF) << 24 | (b[1] & 0xFF) << 16 | (b[2] & 0xFF) << 8 | (b[3] & 0xFF);
    }

    private static String name(int type) {
        StringBuilder sb = new StringBuilder(4);
        for (int shift = 24; shift >= 0; shift -= 8) {
            int c = (type >>> shift) & 0xFF;
            sb.append(c >= 0x21 && c <= 0x7E ? (char) c : '?');
        }
        return sb.toString();
    }
}
