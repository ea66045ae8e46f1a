"""fullconv.experiments"""
