#include <criterion/criterion.h>
#include <math.h>

#include "tsdb/tsdb.h"

#define LS(...)                                                                                    \
    ((struct tsdb_labels){.v = (const struct tsdb_label[]){__VA_ARGS__},                           \
                          .n = sizeof((const struct tsdb_label[]){__VA_ARGS__}) /                  \
                               sizeof(struct tsdb_label)})

Test(tsdb_labels, compare_as_prometheus)
{
    struct tsdb_labels a = LS({"__name__", "up"}, {"job", "a"});
    struct tsdb_labels b = LS({"__name__", "up"}, {"job", "b"});
    struct tsdb_labels c = LS({"__name__", "up"});
    struct tsdb_labels d = LS({"__name__", "up"}, {"instance", "x"});
    cr_assert_lt(tsdb_labels_cmp(&a, &b), 0);
    cr_assert_gt(tsdb_labels_cmp(&b, &a), 0);
    cr_assert_eq(tsdb_labels_cmp(&a, &a), 0);
    cr_assert_lt(tsdb_labels_cmp(&c, &a), 0, "a prefix sorts first");
    cr_assert_lt(tsdb_labels_cmp(&d, &a), 0, "by name before value");
    cr_assert_str_eq(tsdb_labels_get(&a, "job"), "a");
    cr_assert_null(tsdb_labels_get(&a, "nope"));
}

Test(tsdb_labels, hash_separates_boundaries)
{
    struct tsdb_labels a = LS({"a", "bc"});
    struct tsdb_labels b = LS({"ab", "c"});
    cr_assert_neq(tsdb_labels_hash(&a), tsdb_labels_hash(&b));
    cr_assert_eq(tsdb_labels_hash(&a), tsdb_labels_hash(&a));
}

Test(tsdb_labels, stale_nan)
{
    double s = tsdb_stale_nan();
    cr_assert(isnan(s));
    cr_assert(tsdb_is_stale_nan(s));
    cr_assert_not(tsdb_is_stale_nan(NAN));
    cr_assert_not(tsdb_is_stale_nan(1.0));
}
