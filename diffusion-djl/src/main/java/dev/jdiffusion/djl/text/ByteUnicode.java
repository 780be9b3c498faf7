package dev.jdiffusion.djl.text;

import java.util.Arrays;

/**
 * CLIP's (and GPT-2's) reversible map from the 256 byte values to printable Unicode characters,
 * so BPE works on strings without whitespace or control characters: printable Latin-1 bytes
 * ({@code !}..{@code ~}, {@code ¡}..{@code ¬}, {@code ®}..{@code ÿ}) map to themselves, the other
 * 68 bytes to U+0100 onwards in byte order. Immutable.
 */
final class ByteUnicode {

    /** Byte value (0..255) → its character. */
    private static final char[] BYTE_TO_CHAR = new char[256];
    /** The byte values in vocabulary order: printable ones first, then the remapped ones. */
    private static final int[] ORDER = new int[256];
    /** Character → byte value, or −1; indexed by char (all mapped chars are below 512). */
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        boolean[] printable = new boolean[256];
        int k = 0;
        for (int b = 0; b < 256; b++) {
            if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
                printable[b] = true;
                BYTE_TO_CHAR[b] = (char) b;
                ORDER[k++] = b;
            }
        }
        int n = 0;
        for (int b = 0; b < 256; b++) {
            if (!printable[b]) {
                BYTE_TO_CHAR[b] = (char) (256 + n++);
                ORDER[k++] = b;
            }
        }
        Arrays.fill(CHAR_TO_BYTE, -1);
        for (int b = 0; b < 256; b++) {
            CHAR_TO_BYTE[BYTE_TO_CHAR[b]] = b;
        }
    }

    private ByteUnicode() {}

    /**
     * The character standing for a byte.
     *
     * @param b the byte (any sign)
     * @return its character
     */
    static char charOf(byte b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    /**
     * The byte a character stands for.
     *
     * @param c a character
     * @return the byte value 0..255, or −1 if {@code c} is not a byte character
     */
    static int byteOf(char c) {
        return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }

    /**
     * The 256 byte characters in CLIP's vocabulary order (ids 0..255 of vocab.json).
     *
     * @return a new array of one-character strings
     */
    static String[] alphabet() {
        String[] out = new String[256];
        for (int i = 0; i < 256; i++) {
            out[i] = String.valueOf(BYTE_TO_CHAR[ORDER[i]]);
        }
        return out;
    }
}
