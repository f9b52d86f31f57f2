"""ecn.data"""
