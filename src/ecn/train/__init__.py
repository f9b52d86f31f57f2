"""ecn.train"""
