/*
 * Rules: YAML files that turn kernel log lines into events with PCRE2
 * regular expressions.
 *
 * Loading walks libyaml's document tree (so every error can name the
 * line and column of the node at fault) and builds the new rules aside;
 * only a file that loads completely is appended, so a set is never left
 * half-loaded. Every key is checked: unknown keys, duplicate keys, a
 * missing type, severity or pattern, an invalid type, severity or source,
 * a pattern PCRE2 refuses (with its reason and offset), a capture name
 * that is not an attribute name, and more attributes than an event holds
 * (static ones plus distinct capture names) are all refused with
 * "file:line:column: what".
 *
 * Patterns compile in UTF-8 mode with PCRE2_MATCH_INVALID_UTF, so a line
 * with arbitrary bytes is matched (invalid sequences match nothing but
 * never fail the match), with duplicate names allowed (a rule may capture
 * `device` in each of several alternatives: the first group of that name
 * that took part in the match gives the value), without \C (it could split
 * a character), and JIT-compiled when the platform supports it (the
 * interpreter otherwise). Matching stops at a match limit, so a
 * pathological pattern costs bounded time per line and counts as no match.
 *
 * PCRE2 allocates through cn_malloc, so tests can make its allocations fail
 * too. A loaded set is immutable and shared by threads; each thread matches
 * with its own evt_rules_matcher, whose match data is sized for the rule
 * with the most groups. Load every file before creating matchers.
 */
#include "events/events.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <yaml.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

#define RULES_FILE_MAX (4u << 20)  /* bytes of a rules file */
#define RULES_MATCH_LIMIT 1000000u /* pcre2 match limit per rule and line */
#define RULES_HEAP_LIMIT_KIB 4096u /* the interpreter's backtracking memory */
#define RULES_COMPILE_OPTIONS                                                                      \
    (PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DUPNAMES | PCRE2_NEVER_BACKSLASH_C)

struct rule_attr {
    char *name, *value; /* owned */
};

struct rule {
    char type[EVT_TYPE_MAX + 1];
    enum evt_severity severity;
    enum evt_source source;
    pcre2_code *re; /* owned */
    uint32_t groups;
    /* PCRE2's table of named groups (owned by re), sorted by name. */
    uint32_t names, name_entry;
    PCRE2_SPTR name_table;
    struct rule_attr *attrs; /* static attributes, owned */
    size_t nattrs;
};

struct evt_rules {
    struct rule *v;
    size_t n, cap;
    uint32_t max_groups; /* the most capture groups of any rule */
};

struct evt_rules_matcher {
    const struct evt_rules *r; /* borrowed */
    pcre2_match_data *md;
    pcre2_match_context *mctx;
};

/* ---- PCRE2's allocations through cn_malloc --------------------------------------------- */

static void *pcre_alloc(PCRE2_SIZE n, void *ctx)
{
    (void)ctx;
    return cn_malloc(n);
}

static void pcre_free(void *p, void *ctx)
{
    (void)ctx;
    free(p);
}

/* ---- the set ---------------------------------------------------------------------------- */

static void rule_free(struct rule *ru)
{
    pcre2_code_free(ru->re);
    for (size_t i = 0; i < ru->nattrs; i++) {
        free(ru->attrs[i].name);
        free(ru->attrs[i].value);
    }
    free(ru->attrs);
    memset(ru, 0, sizeof(*ru));
}

int evt_rules_create(struct evt_rules **out)
{
    *out = cn_calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void evt_rules_destroy(struct evt_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        rule_free(&r->v[i]);
    free(r->v);
    free(r);
}

size_t evt_rules_count(const struct evt_rules *r)
{
    return r->n;
}

void evt_rules_kind(const struct evt_rules *r, size_t i, const char **type,
                    enum evt_severity *severity, enum evt_source *source)
{
    *type = r->v[i].type;
    *severity = r->v[i].severity;
    *source = r->v[i].source;
}

/* ---- loading ------------------------------------------------------------------------------- */

struct yctx {
    yaml_document_t *doc;
    const char *file;
    char *err;
    size_t errcap;
    pcre2_compile_context *cctx;
    struct rule *v; /* the file's rules so far */
    size_t n, cap;
};

static int yerr(struct yctx *y, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes "file:line:column: message" for node into the error buffer. */
static int yerr(struct yctx *y, const yaml_node_t *node, const char *fmt, ...)
{
    if (!y->errcap)
        return -EINVAL;
    int off = snprintf(y->err, y->errcap, "%s:%zu:%zu: ", y->file, node->start_mark.line + 1,
                       node->start_mark.column + 1);
    if (off < 0 || (size_t)off >= y->errcap)
        return -EINVAL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(y->err + off, y->errcap - (size_t)off, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static const char *scalar(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The string value of a rule's key, or NULL with the error written. */
static const char *string_value(struct yctx *y, const yaml_node_t *v, const char *key, int *rc)
{
    const char *s = scalar(v);
    if (!s)
        *rc = yerr(y, v, "\"%s\" must be a string", key);
    return s;
}

/* The static attributes of a rule from the mapping v. */
static int load_attrs(struct yctx *y, const yaml_node_t *v, struct rule *ru)
{
    if (v->type != YAML_MAPPING_NODE)
        return yerr(y, v, "\"attributes\" must be a mapping of names to strings");
    size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    if (!n)
        return 0;
    ru->attrs = cn_calloc(n, sizeof(*ru->attrs));
    if (!ru->attrs)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &v->data.mapping.pairs.start[i];
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *val = yaml_document_get_node(y->doc, p->value);
        const char *name = scalar(k);
        if (!name)
            return yerr(y, k, "an attribute name must be a string");
        if (!evt_attr_name_valid(name))
            return yerr(y, k, "invalid attribute name \"%s\" (expected [a-z_][a-z0-9_]*)", name);
        for (size_t j = 0; j < ru->nattrs; j++)
            if (!strcmp(ru->attrs[j].name, name))
                return yerr(y, k, "duplicate attribute \"%s\"", name);
        const char *value = scalar(val);
        if (!value)
            return yerr(y, val, "the value of attribute \"%s\" must be a string", name);
        if (val->data.scalar.length > EVT_ATTR_VALUE_MAX)
            return yerr(y, val, "the value of attribute \"%s\" is longer than %d bytes", name,
                        EVT_ATTR_VALUE_MAX);
        ru->attrs[i].name = cn_strdup(name);
        ru->attrs[i].value = cn_strdup(value);
        ru->nattrs++;
        if (!ru->attrs[i].name || !ru->attrs[i].value)
            return -ENOMEM;
    }
    return 0;
}

static bool static_attr(const struct rule *ru, const char *name)
{
    for (size_t i = 0; i < ru->nattrs; i++)
        if (!strcmp(ru->attrs[i].name, name))
            return true;
    return false;
}

/* Compiles the pattern of node v into ru, checks its capture names and
 * the rule's attribute count (reported at the rule, node m). */
static int compile_pattern(struct yctx *y, const yaml_node_t *v, const yaml_node_t *m,
                           struct rule *ru)
{
    const char *pat = (const char *)v->data.scalar.value;
    size_t len = v->data.scalar.length;
    if (!len)
        return yerr(y, v, "the pattern is empty");
    int ecode;
    PCRE2_SIZE eoff;
    ru->re = pcre2_compile((PCRE2_SPTR)pat, len, RULES_COMPILE_OPTIONS, &ecode, &eoff, y->cctx);
    if (!ru->re) {
        if (ecode == PCRE2_ERROR_NOMEMORY || ecode == PCRE2_ERROR_HEAP_FAILED)
            return -ENOMEM;
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(ecode, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", ecode);
        return yerr(y, v, "invalid pattern: %s at offset %zu", (const char *)msg, (size_t)eoff);
    }
    pcre2_pattern_info(ru->re, PCRE2_INFO_CAPTURECOUNT, &ru->groups);
    pcre2_pattern_info(ru->re, PCRE2_INFO_NAMECOUNT, &ru->names);
    pcre2_pattern_info(ru->re, PCRE2_INFO_NAMEENTRYSIZE, &ru->name_entry);
    pcre2_pattern_info(ru->re, PCRE2_INFO_NAMETABLE, &ru->name_table);
    size_t total = ru->nattrs;
    const char *prev = NULL;
    for (uint32_t i = 0; i < ru->names; i++) {
        const char *name = (const char *)(ru->name_table + (size_t)i * ru->name_entry + 2);
        if (!evt_attr_name_valid(name))
            return yerr(y, v,
                        "capture group name \"%s\" is not a valid attribute name "
                        "(expected [a-z_][a-z0-9_]*)",
                        name);
        if ((!prev || strcmp(prev, name)) && !static_attr(ru, name))
            total++;
        prev = name;
    }
    if (total > EVT_ATTRS_MAX)
        return yerr(y, m, "too many attributes: %zu (at most %d, static and captured)", total,
                    EVT_ATTRS_MAX);
    /* Optional: without JIT support the interpreter runs the pattern. */
    pcre2_jit_compile(ru->re, PCRE2_JIT_COMPLETE);
    return 0;
}

enum rule_key { K_TYPE = 0, K_SEVERITY, K_SOURCE, K_PATTERN, K_ATTRIBUTES, K_COUNT };
static const char *const rule_keys[K_COUNT] = {"type", "severity", "source", "pattern",
                                               "attributes"};

static int load_rule(struct yctx *y, const yaml_node_t *m, struct rule *ru)
{
    if (m->type != YAML_MAPPING_NODE)
        return yerr(y, m, "a rule must be a mapping");
    yaml_node_t *val[K_COUNT] = {0};
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
        const char *key = scalar(k);
        if (!key)
            return yerr(y, k, "a key must be a string");
        int i = 0;
        while (i < K_COUNT && strcmp(key, rule_keys[i]))
            i++;
        if (i == K_COUNT)
            return yerr(y, k,
                        "unknown key \"%s\" in a rule (expected type, severity, source, "
                        "pattern or attributes)",
                        key);
        if (val[i])
            return yerr(y, k, "duplicate key \"%s\"", key);
        val[i] = yaml_document_get_node(y->doc, p->value);
    }
    for (int i = 0; i < K_COUNT; i++)
        if (!val[i] && i != K_SOURCE && i != K_ATTRIBUTES)
            return yerr(y, m, "the rule has no \"%s\"", rule_keys[i]);

    int rc = 0;
    const char *type = string_value(y, val[K_TYPE], "type", &rc);
    if (!type)
        return rc;
    if (!evt_type_valid(type))
        return yerr(y, val[K_TYPE],
                    "invalid type \"%s\" (expected CamelCase: [A-Z][A-Za-z0-9]*, at most %d "
                    "bytes)",
                    type, EVT_TYPE_MAX);
    strcpy(ru->type, type);

    const char *sev = string_value(y, val[K_SEVERITY], "severity", &rc);
    if (!sev)
        return rc;
    if (evt_severity_parse(sev, &ru->severity))
        return yerr(y, val[K_SEVERITY],
                    "invalid severity \"%s\" (expected info, warning or critical)", sev);

    ru->source = EVT_SRC_KERNEL;
    if (val[K_SOURCE]) {
        const char *src = string_value(y, val[K_SOURCE], "source", &rc);
        if (!src)
            return rc;
        if (evt_source_parse(src, &ru->source))
            return yerr(y, val[K_SOURCE],
                        "invalid source \"%s\" (expected kernel, os, hardware, plugin or agent)",
                        src);
    }

    if (val[K_ATTRIBUTES] && (rc = load_attrs(y, val[K_ATTRIBUTES], ru)))
        return rc;
    if (!string_value(y, val[K_PATTERN], "pattern", &rc))
        return rc;
    return compile_pattern(y, val[K_PATTERN], m, ru);
}

/* The rules of the document whose root is root into y->v. */
static int load_doc(struct yctx *y, const yaml_node_t *root)
{
    if (root->type != YAML_MAPPING_NODE)
        return yerr(y, root, "a rules file must be a mapping with a \"rules\" list");
    const yaml_node_t *list = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
        const char *key = scalar(k);
        if (!key)
            return yerr(y, k, "a key must be a string");
        if (strcmp(key, "rules"))
            return yerr(y, k, "unknown key \"%s\" (expected \"rules\")", key);
        if (list)
            return yerr(y, k, "duplicate key \"rules\"");
        list = yaml_document_get_node(y->doc, p->value);
    }
    if (!list)
        return yerr(y, root, "a rules file must be a mapping with a \"rules\" list");
    if (list->type == YAML_SCALAR_NODE && list->data.scalar.length == 0)
        return 0; /* "rules:" with nothing under it */
    if (list->type != YAML_SEQUENCE_NODE)
        return yerr(y, list, "\"rules\" must be a list of rules");
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++) {
        if (cn_array_grow((void **)&y->v, &y->cap, y->n + 1, sizeof(*y->v), 16))
            return -ENOMEM;
        struct rule *ru = &y->v[y->n];
        memset(ru, 0, sizeof(*ru));
        int rc = load_rule(y, yaml_document_get_node(y->doc, *it), ru);
        if (rc) {
            rule_free(ru);
            return rc;
        }
        y->n++;
    }
    return 0;
}

/* Writes libyaml's complaint about the text as "file:line:column: ...". */
static int parser_error(const yaml_parser_t *parser, const char *file, char *err, size_t errcap)
{
    if (parser->error == YAML_MEMORY_ERROR)
        return -ENOMEM;
    if (errcap) {
        yaml_mark_t mk = parser->problem_mark;
        snprintf(err, errcap, "%s:%zu:%zu: %s%s%s", file, mk.line + 1, mk.column + 1,
                 parser->problem ? parser->problem : "invalid YAML", parser->context ? " " : "",
                 parser->context ? parser->context : "");
    }
    return -EINVAL;
}

/* Parses the text's single document and loads its rules into y. */
static int load_text(struct yctx *y, const char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        int rc = parser_error(&parser, y->file, y->err, y->errcap);
        yaml_parser_delete(&parser);
        return rc;
    }
    y->doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = root ? load_doc(y, root) : 0; /* an empty file holds no rules */
    if (!rc && root) {
        /* A second document would be ignored silently: refuse it. */
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next)) {
            rc = parser_error(&parser, y->file, y->err, y->errcap);
        } else {
            yaml_node_t *r2 = yaml_document_get_root_node(&next);
            if (r2)
                rc = yerr(y, r2, "only one YAML document is allowed in a rules file");
            yaml_document_delete(&next);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int evt_rules_load(struct evt_rules *r, const char *file, const char *text, size_t len, char *err,
                   size_t errcap)
{
    if (errcap)
        err[0] = '\0';
    pcre2_general_context *gctx = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
    pcre2_compile_context *cctx = gctx ? pcre2_compile_context_create(gctx) : NULL;
    struct yctx y = {.file = file, .err = err, .errcap = errcap, .cctx = cctx};
    int rc = cctx ? 0 : -ENOMEM;
    if (!rc && cctx)
        pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);
    if (!rc)
        rc = load_text(&y, text, len);
    if (!rc && y.n && cn_array_grow((void **)&r->v, &r->cap, r->n + y.n, sizeof(*r->v), 16))
        rc = -ENOMEM;
    if (!rc) {
        for (size_t i = 0; i < y.n; i++) {
            r->v[r->n++] = y.v[i];
            if (y.v[i].groups > r->max_groups)
                r->max_groups = y.v[i].groups;
        }
    } else {
        for (size_t i = 0; i < y.n; i++)
            rule_free(&y.v[i]);
        if (rc == -ENOMEM && errcap)
            snprintf(err, errcap, "%s: %s", file, strerror(ENOMEM));
    }
    free(y.v);
    pcre2_compile_context_free(cctx);
    pcre2_general_context_free(gctx);
    return rc;
}

int evt_rules_load_file(struct evt_rules *r, const char *path, char *err, size_t errcap)
{
    struct cn_buf b;
    cn_buf_init(&b);
    int rc = cn_read_file_buf(path, &b, RULES_FILE_MAX);
    if (rc) {
        if (errcap) {
            if (rc == -EFBIG)
                snprintf(err, errcap, "%s: file too large (more than %u MiB)", path,
                         RULES_FILE_MAX >> 20);
            else
                snprintf(err, errcap, "%s: %s", path, strerror(-rc));
        }
        cn_buf_free(&b);
        return rc;
    }
    rc = evt_rules_load(r, path, b.data ? b.data : "", b.len, err, errcap);
    cn_buf_free(&b);
    return rc;
}

/* ---- matching ---------------------------------------------------------------------------- */

int evt_rules_matcher_create(const struct evt_rules *r, struct evt_rules_matcher **out)
{
    *out = NULL;
    struct evt_rules_matcher *m = cn_calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->r = r;
    pcre2_general_context *gctx = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
    if (gctx) {
        m->md = pcre2_match_data_create(r->max_groups + 1, gctx);
        m->mctx = pcre2_match_context_create(gctx);
        pcre2_general_context_free(gctx);
    }
    if (!m->md || !m->mctx) {
        evt_rules_matcher_destroy(m);
        return -ENOMEM;
    }
    pcre2_set_match_limit(m->mctx, RULES_MATCH_LIMIT);
    pcre2_set_heap_limit(m->mctx, RULES_HEAP_LIMIT_KIB);
    *out = m;
    return 0;
}

void evt_rules_matcher_destroy(struct evt_rules_matcher *m)
{
    if (!m)
        return;
    pcre2_match_data_free(m->md);
    pcre2_match_context_free(m->mctx);
    free(m);
}

/* Fills ev from the rule that matched line (captures in md). */
static int fill_event(const struct rule *ru, pcre2_match_data *md, const char *line, size_t len,
                      struct evt_event *ev)
{
    evt_event_set_type(ev, ru->type); /* valid: checked at load */
    ev->severity = ru->severity;
    ev->source = ru->source;
    int rc = evt_event_set_message(ev, line, len);
    for (size_t i = 0; !rc && i < ru->nattrs; i++)
        rc = evt_event_set_attr(ev, ru->attrs[i].name, ru->attrs[i].value,
                                strlen(ru->attrs[i].value));
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    uint32_t pairs = pcre2_get_ovector_count(md);
    const char *prev = NULL; /* the last name given a value: duplicates keep the first */
    for (uint32_t i = 0; !rc && i < ru->names; i++) {
        PCRE2_SPTR ent = ru->name_table + (size_t)i * ru->name_entry;
        uint32_t g = ((uint32_t)ent[0] << 8) | ent[1];
        const char *name = (const char *)(ent + 2);
        if (g >= pairs || ov[2 * g] == PCRE2_UNSET || (prev && !strcmp(prev, name)))
            continue;
        size_t from = ov[2 * g], to = ov[2 * g + 1] > from ? ov[2 * g + 1] : from;
        rc = evt_event_set_attr(ev, name, line + from, to - from);
        prev = name;
    }
    if (rc) {
        evt_event_clear(ev);
        return rc;
    }
    return 1;
}

int evt_rules_match(struct evt_rules_matcher *m, const char *line, size_t len, struct evt_event *ev)
{
    if (!line)
        line = "";
    for (size_t i = 0; i < m->r->n; i++) {
        const struct rule *ru = &m->r->v[i];
        int rc = pcre2_match(ru->re, (PCRE2_SPTR)line, len, 0, 0, m->md, m->mctx);
        if (rc < 0)
            continue; /* no match, or the match limit: the next rule may still match */
        return fill_event(ru, m->md, line, len, ev);
    }
    return 0;
}
