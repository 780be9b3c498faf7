package dev.jdiffusion.api;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.internal.NDArrayEx;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;

/**
 * The views of a {@link StepEvent}'s arrays that a listener gets. A sampler's arrays live only
 * until its step ends, and an engine array used on one thread while another releases it reads
 * freed native memory (the JVM crashes). A view therefore forwards to the engine array only on
 * the thread that received the event and only until the callback returns; anywhere else it
 * throws {@link IllegalStateException}. Arrays, lists and managers obtained through a view are
 * views with the same lease, direct byte buffers are copied to the heap, and views cannot
 * close, attach or detach what they wrap (that would pull the sampler's state from under it).
 */
final class StepArrays {

    /** Methods that change the lifetime of what a view wraps. */
    private static final Set<String> LIFETIME = Set.of("attach", "tempAttach", "detach",
            "returnResource", "attachInternal", "attachUncappedInternal",
            "tempAttachInternal", "detachInternal", "cap");

    private StepArrays() {}

    /** Who may use the views of one event, and until when. */
    static final class Lease {
        private final Thread owner = Thread.currentThread();
        private final int step;
        private volatile boolean open = true;

        Lease(int step) {
            this.step = step;
        }

        void end() {
            open = false;
        }

        boolean usable() {
            return open && Thread.currentThread() == owner;
        }

        void check() {
            Thread t = Thread.currentThread();
            if (t != owner) {
                throw new IllegalStateException("an array of the StepEvent of step " + (step + 1)
                        + " was used on thread '" + t.getName() + "'; event arrays are valid only"
                        + " on the thread that called StepListener.onStep ('" + owner.getName()
                        + "') during that call: copy what you need inside onStep with"
                        + " xValues(), denoisedValues(), copyX(manager) or copyDenoised(manager)");
            }
            if (!open) {
                throw new IllegalStateException("an array of the StepEvent of step " + (step + 1)
                        + " was used after onStep returned, when the sampler had released it:"
                        + " copy what you need inside onStep with xValues(), denoisedValues(),"
                        + " copyX(manager) or copyDenoised(manager)");
            }
        }
    }

    /**
     * A view of one of the event's own arrays (it cannot be closed either).
     *
     * @param lease the event's lease
     * @param array the engine array, or null
     * @return the view, or null
     */
    static NDArray view(Lease lease, NDArray array) {
        return array == null ? null : proxy(NDArray.class, lease, array, true);
    }

    private static <T> T proxy(Class<T> type, Lease lease, Object target, boolean root) {
        return type.cast(Proxy.newProxyInstance(StepArrays.class.getClassLoader(),
                new Class<?>[] {type}, new Guard(lease, target, root)));
    }

    /** Wraps what a forwarded call returned. */
    private static Object wrap(Lease lease, Object v) {
        if (v == null || isView(v)) {
            return v;
        }
        if (v instanceof NDArray a) {
            return proxy(NDArray.class, lease, a, false);
        }
        if (v instanceof NDList list) {
            NDList out = new NDList(list.size());
            for (NDArray a : list) {
                out.add((NDArray) wrap(lease, a));
            }
            return out;
        }
        if (v instanceof NDManager m) {
            return proxy(NDManager.class, lease, m, true);
        }
        if (v instanceof NDArrayEx ex) {
            return proxy(NDArrayEx.class, lease, ex, true);
        }
        if (v instanceof NDArray[] arrays) {
            NDArray[] out = new NDArray[arrays.length];
            for (int i = 0; i < arrays.length; i++) {
                out[i] = (NDArray) wrap(lease, arrays[i]);
            }
            return out;
        }
        if (v instanceof ByteBuffer b && b.isDirect()) {
            // May point into the engine's memory: hand out a copy.
            ByteBuffer copy = ByteBuffer.allocate(b.remaining()).order(b.order());
            copy.put(b.duplicate()).flip();
            return copy;
        }
        if (v instanceof List<?> list && list.stream().anyMatch(e -> e instanceof NDArray)) {
            List<Object> out = new ArrayList<>(list.size());
            for (Object e : list) {
                out.add(wrap(lease, e));
            }
            return Collections.unmodifiableList(out);
        }
        return v;
    }

    /** Replaces views among the arguments by what they wrap, checking their leases. */
    private static Object[] unwrap(Object[] args) {
        if (args == null) {
            return null;
        }
        Object[] out = args.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] = unwrap(out[i]);
        }
        return out;
    }

    private static Object unwrap(Object v) {
        if (isView(v)) {
            Guard g = (Guard) Proxy.getInvocationHandler(v);
            g.lease.check();
            return g.target;
        }
        if (v instanceof NDList list && list.stream().anyMatch(StepArrays::isView)) {
            NDList out = new NDList(list.size());
            for (NDArray a : list) {
                out.add((NDArray) unwrap(a));
            }
            return out;
        }
        if (v instanceof NDArray[] arrays) {
            NDArray[] out = new NDArray[arrays.length];
            for (int i = 0; i < arrays.length; i++) {
                out[i] = (NDArray) unwrap(arrays[i]);
            }
            return out;
        }
        return v;
    }

    private static boolean isView(Object v) {
        return v != null && Proxy.isProxyClass(v.getClass())
                && Proxy.getInvocationHandler(v) instanceof Guard;
    }

    /** Forwards calls to the engine object while the lease allows it. */
    private static final class Guard implements InvocationHandler {
        private final Lease lease;
        private final Object target;
        private final boolean root;

        Guard(Lease lease, Object target, boolean root) {
            this.lease = lease;
            this.target = target;
            this.root = root;
        }

        @Override
        public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
            String name = method.getName();
            if (method.getDeclaringClass() == Object.class) {
                switch (name) {
                    case "equals":
                        return proxy == args[0];
                    case "hashCode":
                        return System.identityHashCode(proxy);
                    default:
                        return lease.usable() ? target.toString()
                                : "(a StepEvent array, released after its step)";
                }
            }
            lease.check();
            if (LIFETIME.contains(name) || (root && name.equals("close"))) {
                throw new UnsupportedOperationException(name + "() is not allowed on a StepEvent"
                        + " array: the sampler owns it; keep a copy instead with"
                        + " StepEvent.copyX(manager), copyDenoised(manager) or the float[]"
                        + " accessors");
            }
            Object result;
            try {
                result = method.invoke(target, unwrap(args));
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
            return result == target ? proxy : wrap(lease, result);
        }
    }
}
