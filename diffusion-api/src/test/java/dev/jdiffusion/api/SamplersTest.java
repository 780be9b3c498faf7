package dev.jdiffusion.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URL;
import java.net.URLClassLoader;
import org.junit.jupiter.api.Test;

class SamplersTest {

    @Test
    void findsProviderRegisteredThroughServiceLoader() {
        assertThat(Samplers.names()).contains("test_only");
        Sampler s = Samplers.create("TEST_ONLY ");
        assertThat(s.name()).isEqualTo("test_only:0.25");
    }

    @Test
    void passesOptionsToTheProvider() {
        Sampler s = Samplers.create("test_only", SamplerOptions.builder().optEta(0.5).build());
        assertThat(s.name()).isEqualTo("test_only:0.5");
    }

    @Test
    void unknownNameListsAvailableSamplers() {
        assertThatThrownBy(() -> Samplers.create("no_such_sampler"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no_such_sampler")
                .hasMessageContaining("available samplers: ")
                .hasMessageContaining("test_only");
    }

    @Test
    void classLoaderWithoutProvidersFindsNone() {
        ClassLoader empty = new URLClassLoader(new URL[0], null);
        assertThat(Samplers.names(empty)).doesNotContain("test_only");
        assertThatThrownBy(() -> Samplers.create("test_only", SamplerOptions.defaults(), empty))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void optionsRejectOutOfRangeValues() {
        assertThatThrownBy(() -> SamplerOptions.builder().optEta(1.5).build())
                .hasMessageContaining("eta");
        assertThatThrownBy(() -> SamplerOptions.builder().optChurn(-1).build())
                .hasMessageContaining("churn");
        assertThatThrownBy(() -> SamplerOptions.builder().optOrder(0).build())
                .hasMessageContaining("order");
        assertThatThrownBy(() -> SamplerOptions.builder().optNoiseScale(0).build())
                .hasMessageContaining("noiseScale");
        assertThat(SamplerOptions.builder().optEta(0).build().eta()).hasValue(0.0);
        assertThat(SamplerOptions.defaults().eta()).isEmpty();
    }
}
