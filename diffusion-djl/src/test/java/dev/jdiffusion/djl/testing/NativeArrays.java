package dev.jdiffusion.djl.testing;

import ai.djl.ndarray.NDManager;

/**
 * Counts the native arrays alive in this JVM: every base manager is a child of the engine's
 * system manager, and {@code getManagedArrays} walks the manager tree, so the system manager's
 * count includes the weights of every open pipeline and every array of every running request.
 */
public final class NativeArrays {

    private NativeArrays() {}

    /**
     * The number of open native arrays of the PyTorch engine.
     *
     * @return the count
     */
    public static int live() {
        try (NDManager probe = NDManager.newBaseManager("PyTorch")) {
            return probe.getParentManager().getManagedArrays().size();
        }
    }
}
