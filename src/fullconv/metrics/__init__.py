"""fullconv.metrics"""
