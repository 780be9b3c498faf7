package dev.jdiffusion.api;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.ServiceLoader;
import java.util.TreeMap;

/**
 * Finds samplers by name among the {@link SamplerProvider}s installed through {@link
 * ServiceLoader}.
 *
 * <p>Discovery is an explicit call with no global registry and no static state: every method
 * looks the providers up again in the given class loader (the thread's context class loader by
 * default), so plug-ins added to a class loader later are found. The class is thread-safe.
 * Samplers can always also be constructed directly, without discovery.
 */
public final class Samplers {

    private Samplers() {}

    /**
     * The names of the samplers installed in the context class loader.
     *
     * @return the sorted names
     */
    public static List<String> names() {
        return names(contextLoader());
    }

    /**
     * The names of the samplers installed in a class loader.
     *
     * @param loader where to look for providers
     * @return the sorted names
     */
    public static List<String> names(ClassLoader loader) {
        return List.copyOf(providers(loader).keySet());
    }

    /**
     * Creates a sampler with its default settings.
     *
     * @param name the registry name, for example {@code "euler_a"}; case-insensitive
     * @return the sampler
     * @throws IllegalArgumentException if no installed provider has that name; the message lists
     *     the installed names
     */
    public static Sampler create(String name) {
        return create(name, SamplerOptions.defaults(), contextLoader());
    }

    /**
     * Creates a sampler with settings.
     *
     * @param name the registry name; case-insensitive
     * @param options per-algorithm settings
     * @return the sampler
     * @throws IllegalArgumentException if the name is unknown or an option is out of range
     */
    public static Sampler create(String name, SamplerOptions options) {
        return create(name, options, contextLoader());
    }

    /**
     * Creates a sampler found in a given class loader.
     *
     * @param name the registry name; case-insensitive
     * @param options per-algorithm settings
     * @param loader where to look for providers
     * @return the sampler
     * @throws IllegalArgumentException if the name is unknown or an option is out of range
     */
    public static Sampler create(String name, SamplerOptions options, ClassLoader loader) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(options, "options");
        Map<String, SamplerProvider> providers = providers(loader);
        SamplerProvider provider = providers.get(normalise(name));
        if (provider == null) {
            throw new IllegalArgumentException(
                    "Unknown sampler '" + name + "'; available samplers: "
                            + String.join(", ", providers.keySet()));
        }
        return provider.create(options);
    }

    private static Map<String, SamplerProvider> providers(ClassLoader loader) {
        Map<String, SamplerProvider> byName = new TreeMap<>();
        List<String> conflicts = new ArrayList<>();
        for (SamplerProvider p : ServiceLoader.load(SamplerProvider.class, loader)) {
            String key = normalise(p.name());
            SamplerProvider previous = byName.putIfAbsent(key, p);
            if (previous != null && previous.getClass() != p.getClass()
                    && !previous.getClass().getName().equals(p.getClass().getName())) {
                conflicts.add(key + " (" + previous.getClass().getName() + " and "
                        + p.getClass().getName() + ")");
            }
        }
        if (!conflicts.isEmpty()) {
            throw new IllegalStateException(
                    "Two sampler providers claim the same name: " + String.join("; ", conflicts)
                            + ". Remove one of the plug-in jars from the class path.");
        }
        return Collections.unmodifiableMap(byName);
    }

    private static String normalise(String name) {
        return name.trim().toLowerCase(java.util.Locale.ROOT);
    }

    private static ClassLoader contextLoader() {
        ClassLoader cl = Thread.currentThread().getContextClassLoader();
        return cl != null ? cl : Samplers.class.getClassLoader();
    }
}
