package dev.jdiffusion.djl.safetensors;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffusion.api.ModelLoadException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A safetensors file opened for reading: 8-byte little-endian header length, a JSON header
 * {@code {name: {dtype, shape, data_offsets}, "__metadata__": {...}}}, then the tensors'
 * row-major little-endian bytes.
 *
 * <p>{@link #open} reads and fully validates the header (length bounds, JSON structure, known
 * dtypes, byte length = elements × dtype size without overflow, tensors tiling the data section
 * exactly, no duplicate names) before anything else; every failure is a {@link
 * ModelLoadException} naming the file, the tensor and the problem. Tensor data is read with
 * positional reads of at most 1 MiB at a time, converted as it arrives: files of any size work,
 * and nothing of a file stays resident once its tensors are read.
 *
 * <p>Floating-point tensors (F32, F16, BF16, F64) are read into {@link NDArray}s as FLOAT32, or
 * FLOAT16 when asked; the conversion happens in Java (BF16 arrays crash this engine build).
 * Integer, boolean and 8-bit float tensors are validated but refused for reading. One tensor's
 * converted size is limited to 2 GiB (a Java buffer's limit).
 *
 * <p>Thread-safe: any number of threads may read at once. Reading after {@link #close} throws
 * {@link IllegalStateException}.
 */
public final class SafetensorsFile implements AutoCloseable {

    /** The largest header accepted (the reference implementation's bound). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    /** The largest read made at once (the size of the per-read buffer). */
    static final int WINDOW = 1 << 20;

    /** Elements converted per chunk in bulk loops. */
    private static final int CHUNK = 1 << 16;

    private final Path path;
    private final String label;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;
    private final int window;
    /** Read-buffer size: the window, or the largest tensor if smaller (small files). */
    private final int scratchBytes;
    private final AtomicReference<Scratch> spare = new AtomicReference<>();
    private volatile boolean closed;

    private SafetensorsFile(Path path, FileChannel channel, long dataStart,
            HeaderParser.Header header, int window) {
        this.path = path;
        this.window = window;
        this.label = path.toString();
        this.channel = channel;
        this.dataStart = dataStart;
        this.tensors = header.tensors();
        this.metadata = header.metadata();
        long largest = tensors.values().stream().mapToLong(TensorInfo::byteLength).max()
                .orElse(0);
        this.scratchBytes = (int) Math.min(window, Math.max(8, largest));
    }

    /**
     * Opens and validates a file. Reads only the header; tensor data is read on demand.
     *
     * @param path the file
     * @return the open file; close it when done
     * @throws ModelLoadException if the file is missing, unreadable or not a valid safetensors file
     */
    public static SafetensorsFile open(Path path) throws ModelLoadException {
        return open(path, WINDOW);
    }

    /**
     * Opens a file with a given read window (tests use tiny windows).
     *
     * @param path the file
     * @param window the largest read, a positive multiple of 8
     * @return the open file
     * @throws ModelLoadException as {@link #open(Path)}
     */
    static SafetensorsFile open(Path path, int window) throws ModelLoadException {
        if (window <= 0 || window % 8 != 0) {
            throw new IllegalArgumentException("window must be a positive multiple of 8");
        }
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new ModelLoadException(path + ": file not found", e);
        } catch (IOException | RuntimeException e) {
            throw new ModelLoadException(path + ": cannot open: " + e.getMessage(), e);
        }
        try {
            long size = channel.size();
            if (size < 8) {
                throw new ModelLoadException(path + ": not a safetensors file: " + size
                        + " bytes, shorter than the 8-byte header length");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, lenBuf, 0, path);
            long headerLength = lenBuf.getLong(0);
            String hint = pickleHint(lenBuf.array());
            if (headerLength < 2 || headerLength > MAX_HEADER_BYTES || headerLength > size - 8) {
                throw new ModelLoadException(path + ": not a safetensors file: header length "
                        + Long.toUnsignedString(headerLength) + " is outside [2, min("
                        + MAX_HEADER_BYTES + ", file size " + size + " - 8)]" + hint);
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLength);
            readFully(channel, header, 8, path);
            HeaderParser.Header parsed = HeaderParser.parse(header.array(),
                    size - 8 - headerLength, path.toString());
            return new SafetensorsFile(path, channel, 8 + headerLength, parsed, window);
        } catch (ModelLoadException e) {
            closeQuietly(channel, e);
            throw e;
        } catch (IOException | RuntimeException e) {
            ModelLoadException ex = new ModelLoadException(
                    path + ": cannot read: " + e.getMessage(), e);
            closeQuietly(channel, ex);
            throw ex;
        }
    }

    /**
     * The file this was opened from.
     *
     * @return the path
     */
    public Path path() {
        return path;
    }

    /**
     * The tensor names, in header order.
     *
     * @return an unmodifiable set of names (never contains {@code __metadata__})
     */
    public Set<String> names() {
        return tensors.keySet();
    }

    /**
     * All tensor entries, in header order.
     *
     * @return an unmodifiable map from name to entry
     */
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /**
     * Whether the file holds a tensor.
     *
     * @param name the tensor name
     * @return true if present
     */
    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /**
     * One tensor's entry.
     *
     * @param name the tensor name
     * @return dtype, shape and byte range
     * @throws IllegalArgumentException if the file has no such tensor
     */
    public TensorInfo info(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw new IllegalArgumentException(label + " has no tensor '" + name + "'");
        }
        return info;
    }

    /**
     * The free-form string metadata of the header's {@code __metadata__} entry.
     *
     * @return an unmodifiable map, empty when the file has none
     */
    public Map<String, String> metadata() {
        return metadata;
    }

    /**
     * Reads a tensor as FLOAT32.
     *
     * @param name the tensor name
     * @param manager the manager that will own the array (its device is used)
     * @return a new array of the tensor's shape
     * @throws ModelLoadException if the tensor cannot be read as floating point
     */
    public NDArray read(String name, NDManager manager) throws ModelLoadException {
        return read(name, manager, DataType.FLOAT32, false);
    }

    /**
     * Reads a tensor as FLOAT32 or FLOAT16, optionally refusing NaN and infinite values.
     *
     * @param name the tensor name
     * @param manager the manager that will own the array; on a GPU device the data goes
     *     through a temporary CPU array
     * @param type {@link DataType#FLOAT32} or {@link DataType#FLOAT16}
     * @param requireFinite when true, a NaN or infinite value (or a value that overflows
     *     FLOAT16 on conversion) fails the read
     * @return a new array of the tensor's shape
     * @throws ModelLoadException if the tensor cannot be read as floating point, is too large,
     *     or holds non-finite values while {@code requireFinite} is set
     * @throws IllegalArgumentException if the file has no such tensor or the type is unsupported
     */
    public NDArray read(String name, NDManager manager, DataType type, boolean requireFinite)
            throws ModelLoadException {
        TensorInfo info = info(name);
        if (type != DataType.FLOAT32 && type != DataType.FLOAT16) {
            throw new IllegalArgumentException("tensors can be read as FLOAT32 or FLOAT16, not "
                    + type);
        }
        long outBytes = checkReadable(info, type == DataType.FLOAT16 ? 2 : 4);
        boolean gpu = !manager.getDevice().equals(Device.cpu());
        NDManager cpu = gpu ? manager.newSubManager(Device.cpu()) : manager;
        try {
            NDArray array;
            if (outBytes == 0) {
                array = cpu.create(info.shape(), type);
            } else if (Boolean.getBoolean("ai.djl.pytorch.use_mkldnn")) {
                // MKL-DNN tensors do not expose their memory: fill a Java buffer, let the
                // engine take it.
                ByteBuffer dst = ByteBuffer.allocateDirect((int) outBytes)
                        .order(ByteOrder.nativeOrder());
                long bad = convert(info, dst, type == DataType.FLOAT16, requireFinite);
                if (bad != 0) {
                    throw nonFinite(info, bad, type);
                }
                dst.rewind();
                array = cpu.create(dst, info.shape(), type);
            } else {
                // A dense CPU tensor's toByteBuffer(true) is a view of the tensor's own memory:
                // converted values go straight into it, with no Java direct-memory copy.
                array = cpu.create(info.shape(), type);
                ByteBuffer dst = array.toByteBuffer(true).order(ByteOrder.nativeOrder());
                if (!dst.isDirect() || dst.capacity() != outBytes) {
                    array.close();
                    throw new IllegalStateException("the engine did not expose tensor memory");
                }
                dst.clear();
                long bad = convert(info, dst, type == DataType.FLOAT16, requireFinite);
                if (bad != 0) {
                    array.close();
                    throw nonFinite(info, bad, type);
                }
            }
            if (!gpu) {
                return array;
            }
            NDArray moved = array.toDevice(manager.getDevice(), true);
            moved.attach(manager);
            return moved;
        } finally {
            if (gpu) {
                cpu.close();
            }
        }
    }

    /**
     * Reads a tensor into a float array (row-major), converting F16, BF16 and F64.
     *
     * @param name the tensor name
     * @return the values
     * @throws ModelLoadException if the tensor cannot be read as floating point or has more
     *     than 2^31 − 1 elements
     * @throws IllegalArgumentException if the file has no such tensor
     */
    public float[] readFloats(String name) throws ModelLoadException {
        TensorInfo info = info(name);
        long outBytes = checkReadable(info, 4);
        float[] out = new float[(int) (outBytes / 4)];
        ByteBuffer dst = ByteBuffer.allocate(0); // unused: floats go straight to the array
        convertInto(info, dst, out, false, false);
        return out;
    }

    /**
     * Closes the file. Arrays already read stay valid.
     */
    @Override
    public void close() {
        closed = true;
        spare.set(null);
        try {
            channel.close();
        } catch (IOException e) {
            // Nothing was written; a failed close of a read-only channel loses nothing.
        }
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + label + ", " + tensors.size() + " tensors]";
    }

    private long checkReadable(TensorInfo info, int outSize) throws ModelLoadException {
        if (closed) {
            throw new IllegalStateException(label + " is closed");
        }
        if (!info.dtype().isReadableAsFloat()) {
            throw new ModelLoadException(label + ": tensor '" + info.name() + "' has dtype "
                    + info.dtype() + "; only F32, F16, BF16 and F64 tensors can be read as "
                    + "floating-point weights");
        }
        long outBytes = info.elementCount() * outSize;
        if (outBytes > Integer.MAX_VALUE - 8) {
            throw new ModelLoadException(label + ": tensor '" + info.name() + "' of shape "
                    + Arrays.toString(info.dims()) + " is too large to read (" + outBytes
                    + " bytes; at most 2 GiB per tensor)");
        }
        return outBytes;
    }

    private ModelLoadException nonFinite(TensorInfo info, long bad, DataType type) {
        String what = bad > 0 ? bad + " NaN or infinite value(s)"
                : (-bad) + " value(s) too large for " + type;
        return new ModelLoadException(label + ": tensor '" + info.name() + "' contains " + what
                + "; the weights are corrupt or were saved after a diverged training run");
    }

    /**
     * Converts the tensor's data into {@code dst} (native order, FLOAT32 or FLOAT16).
     *
     * @return 0, or the count of non-finite source values (positive), or minus the count of
     *     values that overflowed FLOAT16 (negative), when {@code requireFinite}
     */
    private long convert(TensorInfo info, ByteBuffer dst, boolean toHalf, boolean requireFinite)
            throws ModelLoadException {
        return convertInto(info, dst, null, toHalf, requireFinite);
    }

    private long convertInto(TensorInfo info, ByteBuffer dst, float[] floats, boolean toHalf,
            boolean requireFinite) throws ModelLoadException {
        Scratch scratch = spare.getAndSet(null);
        if (scratch == null) {
            scratch = new Scratch(scratchBytes); // the first read, or the spare is in use
        }
        try {
            return convertInto(info, dst, floats, toHalf, requireFinite, scratch);
        } finally {
            spare.set(scratch);
        }
    }

    private long convertInto(TensorInfo info, ByteBuffer dst, float[] floats, boolean toHalf,
            boolean requireFinite, Scratch scratch) throws ModelLoadException {
        Converter c = new Converter(info.dtype(), dst, floats, toHalf, requireFinite, scratch);
        long length = info.byteLength();
        try {
            // A file that shrank since it was opened is reported before reading.
            if (length > 0 && channel.size() < dataStart + info.end()) {
                throw new ModelLoadException(label + ": the file shrank after it was opened; "
                        + "cannot read tensor '" + info.name() + "'");
            }
        } catch (ModelLoadException e) {
            throw e;
        } catch (IOException e) {
            if (closed) {
                throw new IllegalStateException(label + " is closed", e);
            }
            throw new ModelLoadException(label + ": cannot read tensor '" + info.name()
                    + "': " + e.getMessage(), e);
        }
        // Positional reads through a bounded buffer, not memory mappings: a mapping stays
        // resident (and counted in the process's memory) until the garbage collector happens to
        // release it, long after its tensor was converted.
        ByteBuffer src = scratch.src;
        for (long off = 0; off < length; off += src.capacity()) {
            int len = (int) Math.min(src.capacity(), length - off);
            src.clear().limit(len);
            long pos = dataStart + info.begin() + off;
            try {
                while (src.hasRemaining()) {
                    int n = channel.read(src, pos + src.position());
                    if (n < 0) {
                        throw new ModelLoadException(label + ": the file shrank after it was"
                                + " opened; cannot read tensor '" + info.name() + "'");
                    }
                }
            } catch (ModelLoadException e) {
                throw e;
            } catch (IOException | RuntimeException e) {
                if (closed) {
                    throw new IllegalStateException(label + " is closed", e);
                }
                throw new ModelLoadException(label + ": cannot read tensor '" + info.name()
                        + "': " + e.getMessage(), e);
            }
            src.flip();
            c.accept(src);
        }
        return c.nonFinite > 0 ? c.nonFinite : -c.overflow;
    }

    /**
     * Buffers of one conversion, reused from tensor to tensor (one spare per file): loading a
     * model then makes almost no garbage, and the Java heap does not grow with the model.
     */
    private static final class Scratch {
        final ByteBuffer src;
        final float[] f = new float[CHUNK];
        final short[] s = new short[CHUNK];

        Scratch(int window) {
            src = ByteBuffer.allocate(window).order(ByteOrder.LITTLE_ENDIAN);
        }
    }

    /** Streams source windows into the destination, chunk by chunk. */
    private static final class Converter {
        private final SafetensorsDtype from;
        private final ByteBuffer dst;
        private final FloatBuffer dstFloats;
        private final ShortBuffer dstHalves;
        private final float[] floats;
        private final boolean toHalf;
        private final boolean check;
        private final float[] f;
        private final short[] s;
        private int floatPos;
        long nonFinite;
        long overflow;

        Converter(SafetensorsDtype from, ByteBuffer dst, float[] floats, boolean toHalf,
                boolean check, Scratch scratch) {
            this.f = scratch.f;
            this.s = scratch.s;
            this.from = from;
            this.dst = dst;
            this.floats = floats;
            this.toHalf = toHalf;
            this.check = check;
            this.dstFloats = floats == null && !toHalf ? dst.asFloatBuffer() : null;
            this.dstHalves = floats == null && toHalf ? dst.asShortBuffer() : null;
        }

        void accept(ByteBuffer src) {
            if (from == SafetensorsDtype.F16 && toHalf) {
                copyHalves(src);
                return;
            }
            if (from == SafetensorsDtype.F32 && floats == null && !toHalf
                    && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
                if (check) {
                    countNonFiniteFloats(src.duplicate().order(ByteOrder.LITTLE_ENDIAN));
                }
                // Same bytes on a little-endian host: one bulk copy.
                dst.position(dstFloats.position() * 4);
                dst.put(src);
                dstFloats.position(dst.position() / 4);
                return;
            }
            while (src.hasRemaining()) {
                int n = readChunk(src);
                if (check) {
                    for (int i = 0; i < n; i++) {
                        if (!Float.isFinite(f[i])) {
                            nonFinite++;
                        }
                    }
                }
                write(n);
            }
        }

        /** Reads up to CHUNK source elements into {@code f}; returns the count. */
        private int readChunk(ByteBuffer src) {
            switch (from) {
                case F32 -> {
                    FloatBuffer in = src.asFloatBuffer();
                    int n = Math.min(CHUNK, in.remaining());
                    in.get(f, 0, n);
                    src.position(src.position() + n * 4);
                    return n;
                }
                case F16, BF16 -> {
                    ShortBuffer in = src.asShortBuffer();
                    int n = Math.min(CHUNK, in.remaining());
                    in.get(s, 0, n);
                    src.position(src.position() + n * 2);
                    if (from == SafetensorsDtype.F16) {
                        float[] table = Halfs.table();
                        for (int i = 0; i < n; i++) {
                            f[i] = table[s[i] & 0xFFFF];
                        }
                    } else {
                        for (int i = 0; i < n; i++) {
                            f[i] = Float.intBitsToFloat((s[i] & 0xFFFF) << 16);
                        }
                    }
                    return n;
                }
                case F64 -> {
                    int n = Math.min(CHUNK, src.remaining() / 8);
                    for (int i = 0; i < n; i++) {
                        double d = src.getDouble();
                        f[i] = (float) d;
                        if (check && Double.isFinite(d) && !Float.isFinite(f[i])) {
                            overflow++;
                        }
                    }
                    return n;
                }
                default -> throw new IllegalStateException("unreadable dtype " + from);
            }
        }

        private void write(int n) {
            if (floats != null) {
                System.arraycopy(f, 0, floats, floatPos, n);
                floatPos += n;
            } else if (!toHalf) {
                dstFloats.put(f, 0, n);
            } else {
                for (int i = 0; i < n; i++) {
                    s[i] = Halfs.floatToHalf(f[i]);
                    if (check && Float.isFinite(f[i]) && Halfs.isHalfNonFinite(s[i])) {
                        overflow++;
                    }
                }
                dstHalves.put(s, 0, n);
            }
        }

        private void copyHalves(ByteBuffer src) {
            ShortBuffer in = src.asShortBuffer();
            while (in.hasRemaining()) {
                int n = Math.min(CHUNK, in.remaining());
                in.get(s, 0, n);
                if (check) {
                    for (int i = 0; i < n; i++) {
                        if (Halfs.isHalfNonFinite(s[i])) {
                            nonFinite++;
                        }
                    }
                }
                dstHalves.put(s, 0, n);
            }
        }

        private void countNonFiniteFloats(ByteBuffer src) {
            FloatBuffer in = src.asFloatBuffer();
            while (in.hasRemaining()) {
                int n = Math.min(CHUNK, in.remaining());
                in.get(f, 0, n);
                for (int i = 0; i < n; i++) {
                    if (!Float.isFinite(f[i])) {
                        nonFinite++;
                    }
                }
            }
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position, Path path)
            throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) {
                throw new ModelLoadException(path + ": file ended while reading its header");
            }
            pos += n;
        }
    }

    /** A hint for files that are pickles or zip archives rather than safetensors. */
    private static String pickleHint(byte[] head) {
        boolean zip = head[0] == 'P' && head[1] == 'K';
        boolean pickle = (head[0] & 0xFF) == 0x80 && head[1] >= 2 && head[1] <= 5;
        if (zip || pickle) {
            return "; this looks like a PyTorch pickle checkpoint (.bin/.ckpt/.pt), which is "
                    + "refused because loading it can run arbitrary code: convert it to "
                    + ".safetensors first";
        }
        return "";
    }

    private static void closeQuietly(FileChannel channel, Exception cause) {
        try {
            channel.close();
        } catch (IOException e) {
            cause.addSuppressed(e);
        }
    }
}
