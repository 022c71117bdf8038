"""Zhang–Shasha ordered tree edit distance on postorder integer arrays, compiled with numba.

Nodes are numbered in postorder; `leftmost[i]` is the index of node i's leftmost leaf and
keyroots are the nodes with no later node sharing their leftmost leaf. Rename costs come from
a table indexed by label ids, so callers only price pairs of distinct labels.
"""
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def tree_edit_distance(
    leftmost_a, keyroots_a, label_a, delete_a,
    leftmost_b, keyroots_b, label_b, insert_b,
    rename,
):
    """Cheapest edit script turning tree a into tree b (delete from a, insert from b, rename a->b)."""
    size_a = leftmost_a.shape[0]
    size_b = leftmost_b.shape[0]
    # every entry is written (as a whole-subtree pair) before it is read
    tree_dist = np.empty((size_a, size_b), dtype=np.int32)
    # forest_dist[x, y]: first x nodes of a's forest (from first_a) vs first y of b's
    forest_dist = np.empty((size_a + 1, size_b + 1), dtype=np.int32)
    for key_a in keyroots_a:
        first_a = leftmost_a[key_a]
        for key_b in keyroots_b:
            first_b = leftmost_b[key_b]
            width = key_b - first_b + 2
            forest_dist[0, 0] = 0
            for y in range(1, width):
                forest_dist[0, y] = forest_dist[0, y - 1] + insert_b[first_b + y - 1]
            for x in range(1, key_a - first_a + 2):
                node_a = first_a + x - 1
                leaf_a = leftmost_a[node_a]
                a_is_tree = leaf_a == first_a
                delete_cost = delete_a[node_a]
                rename_row = rename[label_a[node_a]]
                tree_row = tree_dist[node_a]
                above = forest_dist[x - 1]
                row = forest_dist[x]
                before_a = forest_dist[leaf_a - first_a]
                row[0] = above[0] + delete_cost
                for y in range(1, width):
                    node_b = first_b + y - 1
                    leaf_b = leftmost_b[node_b]
                    best = min(above[y] + delete_cost, row[y - 1] + insert_b[node_b])
                    if a_is_tree and leaf_b == first_b:
                        # both forests are whole trees: their roots may be matched
                        best = min(best, above[y - 1] + rename_row[label_b[node_b]])
                        tree_row[node_b] = best
                    else:
                        best = min(best, before_a[leaf_b - first_b] + tree_row[node_b])
                    row[y] = best
    return tree_dist[size_a - 1, size_b - 1]
