/* ALBEF-VE / ALBEF-NLVR2 structure: parameter counts at the paper's sizes,
 * the NLVR2 key/value sharing, the left/right swap, "-F", checkpoints. */
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "data/nlvr2.h"
#include "models/albef.h"
#include "models/albef_cls.h"
#include "tests/test.h"

static int load_config(ModelConfig *c, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/../../models/configs/%s", test_fixture_dir(), name);
    return model_config_load(c, path);
}

TEST(test_albef_cls_base_configs_have_the_paper_parameter_counts) {
    ModelConfig c;
    /* spec/albef_blip.md §7: online parameters at 384 px. */
    ASSERT_MSG(load_config(&c, "albef-base-ve.json") == 0, "%s", error_message());
    ASSERT_EQ_INT(albef_cls_param_count(&c, ALBEF_TASK_SNLI_VE), 209756931);
    ASSERT_MSG(load_config(&c, "albef-base-nlvr.json") == 0, "%s", error_message());
    ASSERT_EQ_INT(c.text_layers, 18);
    ASSERT_EQ_INT(albef_cls_param_count(&c, ALBEF_TASK_NLVR2), 259379714);
    /* §3.2 / §3.3: the VE ramp spans one epoch, the NLVR2 ramp two. */
    ASSERT_NEAR(model_config_alpha_at(&c, 1, 0, 100), 0.2, 1e-7);
    ASSERT_MSG(load_config(&c, "albef-base-ve.json") == 0, "%s", error_message());
    ASSERT_NEAR(model_config_alpha_at(&c, 0, 50, 100), 0.2, 1e-7);
    ASSERT_NEAR(model_config_alpha_at(&c, 1, 0, 100), 0.4, 1e-7);
}

TEST(test_albef_nlvr_fusion_pairs_share_one_key_value) {
    ModelConfig c;
    ASSERT_MSG(load_config(&c, "albef-tiny-nlvr.json") == 0, "%s", error_message());
    AlbefCls m;
    albef_cls_init(&m, &c, ALBEF_TASK_NLVR2, 3);
    for (int l = c.fusion_layer; l < c.text_layers; l++) {
        char name[128];
        int odd = (l - c.fusion_layer) % 2;
        snprintf(name, sizeof name, "text_encoder.encoder.layer.%d.crossattention.self.key.weight", l);
        ASSERT((params_find(&m.params, name) != NULL) == odd); /* declared once, under the odd layer */
        snprintf(name, sizeof name, "text_encoder.encoder.layer.%d.crossattention.self.query.weight", l);
        ASSERT(params_find(&m.params, name) != NULL); /* queries stay separate */
        if (!odd) {
            ASSERT(m.online.text.layers[l].cross_attn.key.weight == m.online.text.layers[l + 1].cross_attn.key.weight);
            ASSERT(m.online.text.layers[l].cross_attn.value.bias == m.online.text.layers[l + 1].cross_attn.value.bias);
            ASSERT(m.online.text.layers[l].cross_attn.query.weight != m.online.text.layers[l + 1].cross_attn.query.weight);
        }
    }
    /* the fusion layers and cls_head only: 4 fusion layers of the tiny config */
    int n = albef_cls_set_fusion_only(&m);
    int64_t trainable = params_count_trainable(&m.params);
    ASSERT(n > 0 && trainable > 0 && trainable < m.params.total);
    ASSERT(!params_find(&m.params, "visual_encoder.cls_token")->requires_grad);
    ASSERT(params_find(&m.params, "cls_head.2.weight")->requires_grad);
    albef_cls_free(&m);
}

TEST(test_nlvr2_swap_sentence_exchanges_left_and_right) {
    char out[64];
    ASSERT_EQ_INT(nlvr2_swap_sentence("the left image has more than the right", 0.2f, out, sizeof out), 1);
    ASSERT(!strcmp(out, "the right image has more than the left"));
    ASSERT_EQ_INT(nlvr2_swap_sentence("the leftmost dog", 0.49f, out, sizeof out), 1);
    ASSERT(!strcmp(out, "the rightmost dog"));
    ASSERT_EQ_INT(nlvr2_swap_sentence("both images show dogs", 0.1f, out, sizeof out), 1); /* images only */
    ASSERT(!strcmp(out, "both images show dogs"));
    ASSERT_EQ_INT(nlvr2_swap_sentence("the left image", 0.5f, out, sizeof out), 0); /* no swap: unchanged */
    ASSERT(!strcmp(out, "the left image"));
}

TEST(test_albef_cls_checkpoint_round_trips_and_rejects_other_tasks) {
    ModelConfig c;
    ASSERT_MSG(load_config(&c, "albef-tiny-ve.json") == 0, "%s", error_message());
    AlbefCls a, b, n;
    albef_cls_init(&a, &c, ALBEF_TASK_SNLI_VE, 1);
    albef_cls_init(&b, &c, ALBEF_TASK_SNLI_VE, 2);
    a.momentum.values[5] += 1.0f; /* the momentum half is saved, not re-derived */
    char path[512];
    test_tmp_path(path, sizeof path, "ve.safetensors");
    ASSERT_MSG(albef_cls_save(&a, path) == 0, "%s", error_message());
    ASSERT_MSG(albef_cls_load(&b, path) == 0, "%s", error_message());
    ASSERT(memcmp(a.params.values, b.params.values, (size_t)a.params.total * sizeof(float)) == 0);
    ASSERT(memcmp(a.momentum.values, b.momentum.values, (size_t)a.momentum.total * sizeof(float)) == 0);
    /* an NLVR2 model has other heads and layers: the load names what is wrong */
    ModelConfig cn;
    ASSERT_MSG(load_config(&cn, "albef-tiny-nlvr.json") == 0, "%s", error_message());
    albef_cls_init(&n, &cn, ALBEF_TASK_NLVR2, 1);
    ASSERT(albef_cls_load(&n, path) == -1);
    ASSERT_STR_CONTAINS(error_message(), "ve.safetensors");
    error_clear();
    albef_cls_free(&a);
    albef_cls_free(&b);
    albef_cls_free(&n);
}

static int same_values(const Tensor *a, const Tensor *b) {
    return tensor_numel(a) == tensor_numel(b) &&
           !memcmp(tensor_f32(a), tensor_f32(b), (size_t)tensor_numel(a) * sizeof(float));
}

TEST(test_albef_nlvr_starts_from_a_retrieval_albef_with_duplicated_fusion_layers) {
    ModelConfig rc, nc;
    ASSERT_MSG(load_config(&rc, "albef-tiny.json") == 0, "%s", error_message());
    ASSERT_MSG(load_config(&nc, "albef-tiny-nlvr.json") == 0, "%s", error_message());
    Albef r;
    albef_init(&r, &rc, 9);
    char path[512];
    test_tmp_path(path, sizeof path, "retrieval_init.safetensors");
    ASSERT_MSG(albef_save(&r, path) == 0, "%s", error_message());
    AlbefCls m, fresh;
    albef_cls_init(&m, &nc, ALBEF_TASK_NLVR2, 4);
    albef_cls_init(&fresh, &nc, ALBEF_TASK_NLVR2, 4);
    ASSERT_MSG(albef_cls_init_from_albef(&m, path) == 0, "%s", error_message());
    const char *cases[][2] = {
        /* NLVR2 name, retrieval name: text layers as they are, fusion layer l from (l + 2) / 2 */
        {"visual_encoder.blocks.1.attn.qkv.weight", "visual_encoder.blocks.1.attn.qkv.weight"},
        {"text_encoder.encoder.layer.1.attention.self.query.weight", "text_encoder.encoder.layer.1.attention.self.query.weight"},
        {"text_encoder.encoder.layer.2.crossattention.self.query.weight", "text_encoder.encoder.layer.2.crossattention.self.query.weight"},
        {"text_encoder.encoder.layer.3.crossattention.self.key.weight", "text_encoder.encoder.layer.2.crossattention.self.key.weight"},
        {"text_encoder.encoder.layer.4.output.dense.weight", "text_encoder.encoder.layer.3.output.dense.weight"},
        {"text_encoder.encoder.layer.5.crossattention.self.value.bias", "text_encoder.encoder.layer.3.crossattention.self.value.bias"},
        /* albef-tiny has no momentum twins: NLVR2's start as its online weights */
        {"text_encoder_m.encoder.layer.5.intermediate.dense.weight", "text_encoder.encoder.layer.3.intermediate.dense.weight"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const Tensor *a = params_find(&m.params, cases[k][0]);
        if (!a) a = params_find(&m.momentum, cases[k][0]);
        const Tensor *b = params_find(&r.params, cases[k][1]);
        if (!b) b = params_find(&r.momentum, cases[k][1]);
        ASSERT_MSG(a && b && same_values(a, b), "%s should start as %s", cases[k][0], cases[k][1]);
    }
    ASSERT(same_values(params_find(&m.params, "cls_head.0.weight"), params_find(&fresh.params, "cls_head.0.weight")));
    /* a file of another width is refused, naming the tensor */
    ModelConfig wide = nc;
    wide.text_width = wide.vision_width = 32;
    wide.text_ffn_hidden = wide.vision_mlp_hidden = 128;
    AlbefCls w;
    albef_cls_init(&w, &wide, ALBEF_TASK_NLVR2, 4);
    ASSERT(albef_cls_init_from_albef(&w, path) == -1);
    ASSERT_STR_CONTAINS(error_message(), "elements");
    error_clear();
    albef_cls_free(&w);
    albef_cls_free(&m);
    albef_cls_free(&fresh);
    albef_free(&r);
}
