package dev.jdiffusion.djl.lora;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class LoraTagsTest {

    @Test
    void tagsAreFoundInOrderAndRemovedFromTheText() {
        LoraTags.Parsed p = LoraTags.parse("a cat <lora:film:0.8>, sunset <lora:grain> end");
        assertThat(p.text()).isEqualTo("a cat , sunset  end");
        assertThat(p.tags()).containsExactly(new LoraTags.Tag("film", 0.8),
                new LoraTags.Tag("grain", 1.0));
    }

    @Test
    void otherAngleBracketTextIsLeftAlone() {
        LoraTags.Parsed p = LoraTags.parse("<hypernet:x:1> a <b> c");
        assertThat(p.text()).isEqualTo("<hypernet:x:1> a <b> c");
        assertThat(p.tags()).isEmpty();
    }

    @Test
    void tagTextIsWhatA1111Writes() {
        assertThat(new LoraTags.Tag("film", 1.0).text()).isEqualTo("<lora:film:1>");
        assertThat(new LoraTags.Tag("film", 0.75).text()).isEqualTo("<lora:film:0.75>");
        assertThat(new LoraTags.Tag("film", -0.5).text()).isEqualTo("<lora:film:-0.5>");
        assertThat(LoraTags.parse(new LoraTags.Tag("a b", 0.3).text()).tags())
                .isEqualTo(List.of(new LoraTags.Tag("a b", 0.3)));
    }

    @Test
    void malformedTagsAreRefusedWithTheirPosition() {
        assertThatThrownBy(() -> LoraTags.parse("a <lora:film:0.8"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("position 2").hasMessageContaining("closing '>'");
        assertThatThrownBy(() -> LoraTags.parse("<lora::1>"))
                .hasMessageContaining("no name");
        assertThatThrownBy(() -> LoraTags.parse("x <lora:film:abc>"))
                .hasMessageContaining("'abc'").hasMessageContaining("position 2");
        assertThatThrownBy(() -> LoraTags.parse("<lora:film:1:0.5>"))
                .hasMessageContaining("more than one weight");
        assertThatThrownBy(() -> LoraTags.parse("<lora:film:NaN>"))
                .hasMessageContaining("not a number");
    }
}
