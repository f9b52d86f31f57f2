"""ecn.nn"""
