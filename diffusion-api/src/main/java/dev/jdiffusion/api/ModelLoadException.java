package dev.jdiffusion.api;

import java.io.IOException;

/**
 * A model or weights file could not be loaded: it is missing, corrupt, in a refused format
 * (pickle), or does not match its configuration. The message names the file and, where it
 * applies, the tensor or field at fault and what to do about it.
 */
public class ModelLoadException extends IOException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what failed and how to fix it
     */
    public ModelLoadException(String message) {
        super(message);
    }

    /**
     * Creates the exception with a cause.
     *
     * @param message what failed and how to fix it
     * @param cause the underlying failure
     */
    public ModelLoadException(String message, Throwable cause) {
        super(message, cause);
    }
}
