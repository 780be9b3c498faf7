package dev.jdiffusion.djl.weights;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import dev.jdiffusion.djl.nn.Embedding;
import dev.jdiffusion.djl.nn.GroupNorm;
import dev.jdiffusion.djl.nn.LayerNorm;

/**
 * A small network with nested children mixing this project's blocks (declared shapes) and DJL's
 * Linear/Conv2d (shapes known only after initialisation). Ids (B, T) → (B, 8, T, 1).
 */
final class TinyNet extends AbstractBlock {

    private final Embedding embed;
    private final Inner blocks;

    /** blocks.0 = LayerNorm, blocks.proj = Linear, blocks.conv = Conv2d, blocks.gn = GroupNorm. */
    static final class Inner extends AbstractBlock {
        final LayerNorm norm;
        final Linear proj;
        final Conv2d conv;
        final GroupNorm gn;

        Inner() {
            norm = addChildBlock("0", new LayerNorm(8, 1e-5f));
            proj = addChildBlock("proj", Linear.builder().setUnits(8).build());
            conv = addChildBlock("conv", Conv2d.builder().setKernelShape(new Shape(3, 3))
                    .setFilters(8).optPadding(new Shape(1, 1)).build());
            gn = addChildBlock("gn", new GroupNorm(2, 8, 1e-5f));
        }

        @Override
        protected NDList forwardInternal(ParameterStore ps, NDList in, boolean training,
                PairList<String, Object> params) {
            NDArray x = norm.forward(ps, in, training).singletonOrThrow(); // (B, T, 8)
            x = proj.forward(ps, new NDList(x), training).singletonOrThrow();
            x = x.transpose(0, 2, 1).expandDims(-1); // (B, 8, T, 1)
            x = conv.forward(ps, new NDList(x), training).singletonOrThrow();
            return gn.forward(ps, new NDList(x), training);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputs) {
            Shape s = inputs[0];
            return new Shape[] {new Shape(s.get(0), 8, s.get(1), 1)};
        }

        @Override
        protected void initializeChildBlocks(ai.djl.ndarray.NDManager manager,
                ai.djl.ndarray.types.DataType dataType, Shape... inputShapes) {
            Shape s = inputShapes[0]; // (B, T, 8)
            norm.initialize(manager, dataType, s);
            proj.initialize(manager, dataType, s);
            conv.initialize(manager, dataType, new Shape(s.get(0), 8, s.get(1), 1));
            gn.initialize(manager, dataType, new Shape(s.get(0), 8, s.get(1), 1));
        }
    }

    TinyNet() {
        embed = addChildBlock("embed", new Embedding(10, 8));
        blocks = addChildBlock("blocks", new Inner());
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList in, boolean training,
            PairList<String, Object> params) {
        NDList x = embed.forward(ps, in, training);
        return blocks.forward(ps, x, training);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputs) {
        return new Shape[] {new Shape(inputs[0].get(0), 8, inputs[0].get(1), 1)};
    }

    @Override
    protected void initializeChildBlocks(ai.djl.ndarray.NDManager manager,
            ai.djl.ndarray.types.DataType dataType, Shape... inputShapes) {
        Shape ids = inputShapes[0];
        embed.initialize(manager, dataType, ids);
        blocks.initialize(manager, dataType, new Shape(ids.get(0), ids.get(1), 8));
    }

    Block embed() {
        return embed;
    }
}
