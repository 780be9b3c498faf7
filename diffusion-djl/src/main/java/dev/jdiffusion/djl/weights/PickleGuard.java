package dev.jdiffusion.djl.weights;

import dev.jdiffusion.api.ModelLoadException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;

/**
 * Refuses PyTorch pickle checkpoints ({@code .bin}, {@code .ckpt}, {@code .pt}, {@code .pth},
 * {@code .pkl}, {@code .pickle}): unpickling runs arbitrary code from the file. Recognised by
 * extension and by content (a zip archive, as {@code torch.save} writes, starts with
 * {@code PK}; a raw pickle with the protocol opcode 0x80 followed by a protocol number), and
 * checked before anything else of the file is read. Stateless and thread-safe.
 */
public final class PickleGuard {

    /** File extensions of pickle-based checkpoint formats. */
    public static final Set<String> PICKLE_EXTENSIONS =
            Set.of("bin", "ckpt", "pt", "pth", "pkl", "pickle");

    private PickleGuard() {}

    /**
     * Throws if a file is, or claims to be, a pickle checkpoint; does nothing otherwise (also
     * when the file does not exist: the caller's open reports that).
     *
     * @param file the weights file about to be opened
     * @throws ModelLoadException with a message that says how to convert the file
     */
    public static void refusePickle(Path file) throws ModelLoadException {
        String name = file.getFileName() == null ? "" : file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String ext = dot < 0 ? "" : name.substring(dot + 1).toLowerCase(Locale.ROOT);
        if (PICKLE_EXTENSIONS.contains(ext)) {
            throw refused(file, "its extension ." + ext + " is a PyTorch pickle format");
        }
        byte[] head = new byte[9];
        int n = 0;
        if (Files.isRegularFile(file)) {
            try (InputStream in = Files.newInputStream(file)) {
                n = in.readNBytes(head, 0, head.length);
            } catch (IOException e) {
                throw new ModelLoadException(file + ": cannot read: " + e.getMessage(), e);
            }
        }
        if (n >= 2 && head[0] == 'P' && head[1] == 'K') {
            throw refused(file, "it is a zip archive, the format torch.save writes");
        }
        // A pickle starts with PROTO (0x80) and a protocol 2..5. A safetensors file whose header
        // length happens to start with the same two bytes has '{' at byte 8.
        boolean proto = n >= 2 && (head[0] & 0xFF) == 0x80 && head[1] >= 2 && head[1] <= 5;
        if (proto && !(n == 9 && head[8] == '{')) {
            throw refused(file, "its content is a Python pickle");
        }
    }

    private static ModelLoadException refused(Path file, String why) {
        return new ModelLoadException(file + ": refusing to load a pickle checkpoint (" + why
                + "): loading pickles can execute arbitrary code. Convert the file to "
                + ".safetensors first, e.g. with the safetensors/diffusers conversion scripts "
                + "(diffusers' convert_original_stable_diffusion_to_diffusers.py with "
                + "--to_safetensors, or torch.load + safetensors.torch.save_file in a trusted "
                + "Python environment), or download the .safetensors variant of the model.");
    }
}
