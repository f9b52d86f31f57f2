"""ecn.graphs"""
